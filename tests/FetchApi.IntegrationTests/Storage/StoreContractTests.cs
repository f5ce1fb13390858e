using FetchApi.Batches;
using FetchApi.Callbacks;
using FetchApi.Engine;
using FetchApi.IntegrationTests.Postgres;
using FetchApi.Model;
using FetchApi.Storage;

namespace FetchApi.IntegrationTests.Storage;

/// <summary>The SQLite file, held to the store contract.</summary>
public sealed class SqliteStoreContractTests : StoreContractTests
{
    readonly string _directory = Path.Combine(Path.GetTempPath(), "fetchapi-store", Guid.NewGuid().ToString("N"));

    protected override StorageProvider Provider => StorageProvider.Sqlite;

    protected override Task<string> NewDatabaseAsync()
    {
        Directory.CreateDirectory(_directory);
        return Task.FromResult($"Data Source={Path.Combine(_directory, $"{Guid.NewGuid():N}.db")}");
    }

    protected override async Task SetSchemaVersionAsync(string connectionString, int version)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection(connectionString + ";Pooling=False");
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA user_version = {version};";
        await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
    }

    protected override async Task RunSqlAsync(string connectionString, string sql)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection(connectionString + ";Pooling=False");
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
    }
}

/// <summary>The PostgreSQL database, held to the same contract: a real server, a database per test.</summary>
public sealed class PostgresStoreContractTests(PostgresFixture postgres) : StoreContractTests
{
    protected override StorageProvider Provider => StorageProvider.Postgres;

    protected override Task<string> NewDatabaseAsync() => postgres.CreateDatabaseAsync();

    protected override async Task SetSchemaVersionAsync(string connectionString, int version)
    {
        await using var connection = new Npgsql.NpgsqlConnection(connectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new Npgsql.NpgsqlCommand($"UPDATE schema_version SET version = {version};", connection);
        await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
    }

    protected override async Task RunSqlAsync(string connectionString, string sql)
    {
        await using var connection = new Npgsql.NpgsqlConnection(connectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new Npgsql.NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
    }
}

/// <summary>
/// What every store must do, whatever the provider: one set of tests run against each (the subclasses above). Where
/// the provider shares work by claims, results are written for claimed slots, as the engine does.
/// </summary>
public abstract class StoreContractTests : IAsyncLifetime
{
    static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected abstract StorageProvider Provider { get; }

    protected abstract Task<string> NewDatabaseAsync();

    protected abstract Task SetSchemaVersionAsync(string connectionString, int version);

    /// <summary>Runs <paramref name="sql"/> (the same text for every provider) outside the store, as an older build would have written.</summary>
    protected abstract Task RunSqlAsync(string connectionString, string sql);

    string _connectionString = "";

    protected StoreUnderTest Store { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _connectionString = await NewDatabaseAsync();
        Store = await StoreUnderTest.OpenAsync(Provider, _connectionString);
    }

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    static FetchOptions Options(int concurrency = 100) => new()
    {
        Concurrency = concurrency, TimeoutSeconds = 10, MaxAttempts = 3, Method = "GET", IncludeBody = false, MaxBodyBytes = 1024,
        FollowRedirects = true, MaxRedirects = 5, Headers = new Dictionary<string, string> { ["Authorization"] = "Bearer secret" },
    };

    async Task<Guid> CreateAsync(int urls, string? owner = null, Callback? callback = null, IdempotencyKey? key = null)
    {
        var batch = new NewBatch(Guid.CreateVersion7(), T0, Options(), [.. Enumerable.Range(0, urls).Select(i => $"http://127.0.0.1:9/{i}")],
            owner, callback);
        var created = await Store.Commands.CreateAsync(batch, key, () => true, Ct);
        Assert.Equal(CreateOutcome.Created, created.Outcome);
        return created.BatchId;
    }

    static SlotUpdate Fetched(Guid batch, int index, int status = 200) => new(batch, new SlotResult
    {
        Index = index, Url = $"http://127.0.0.1:9/{index}", State = SlotState.Fetched, Attempts = 1, DurationMs = 5,
        Response = new FetchResponse { StatusCode = status, FinalUrl = $"http://127.0.0.1:9/{index}", ContentLength = 3, Sha256 = "abc" },
    });

    static SlotUpdate Failed(Guid batch, int index) => new(batch, new SlotResult
    {
        Index = index, Url = $"http://127.0.0.1:9/{index}", State = SlotState.Failed, Attempts = 3,
        Error = new FetchError(FetchErrorCode.ConnectionRefused, "refused"),
    });

    /// <summary>Takes every pending slot the way the engine would: claimed with a lease where the provider claims.</summary>
    async Task ClaimAllAsync()
    {
        if (Store.Claims is { } claims)
        {
            while ((await claims.ClaimAsync(10_000, DateTimeOffset.UtcNow, () => Unwritten.None, Ct)).Batches.Count > 0)
            {
            }
        }
    }

    Task<WriteResult> WriteAsync(params SlotUpdate[] results) => Store.Sink.WriteAsync(results, [], DateTimeOffset.UtcNow, Ct);

    [Fact]
    public async Task ABatchIsStoredWithEverySlotPendingInInputOrder()
    {
        var id = await CreateAsync(5);

        var page = await Store.Queries.GetPageAsync(id, null, null, -1, 100, Ct);

        Assert.NotNull(page);
        Assert.Equal(BatchStatus.Queued, page.Summary.Status);
        Assert.Equal(new BatchCounts(5, 5, 0, 0, 0), page.Summary.Counts);
        Assert.Equal(T0, page.Summary.CreatedAt);
        Assert.Equal([0, 1, 2, 3, 4], page.Slots.Select(s => s.Index));
        Assert.All(page.Slots, s => Assert.Equal(SlotState.Pending, s.State));
        Assert.False(page.More);
    }

    [Fact]
    public async Task StoredOptionsKeepTheHeadersWhichClientsNeverSee()
    {
        var id = await CreateAsync(1);

        var summary = await Store.Queries.GetSummaryAsync(id, null, Ct);
        var unfinished = Store.Claims is { } claims
            ? (await claims.ClaimAsync(10, DateTimeOffset.UtcNow, () => Unwritten.None, Ct)).Batches.Single().Options
            : (await Store.Work.GetUnfinishedAsync(Ct)).Single().Options;

        // Equivalent, not Equal: the options hold a list (extract), which records compare by reference.
        Assert.Equivalent(Options().AsBatchOptions(), summary!.Options, strict: true);
        Assert.Equal("Bearer secret", unfinished.Headers["Authorization"]);
    }

    [Fact]
    public async Task PagesAndStateFiltersSelectSlotsByIndex()
    {
        var id = await CreateAsync(10);
        await ClaimAllAsync();
        await WriteAsync(Fetched(id, 1), Failed(id, 3), Fetched(id, 5));

        var failed = await Store.Queries.GetPageAsync(id, null, SlotState.Failed, -1, 100, Ct);
        var pending = await Store.Queries.GetPageAsync(id, null, SlotState.Pending, 2, 3, Ct);
        var lastPending = await Store.Queries.GetPageAsync(id, null, SlotState.Pending, 7, 3, Ct);

        Assert.Equal([3], failed!.Slots.Select(s => s.Index));
        Assert.Equal(FetchErrorCode.ConnectionRefused, failed.Slots[0].Error!.Code);
        Assert.False(failed.More);
        // After index 2: the pending slots 4, 6, 7 (3 and 5 are final), and more follow.
        Assert.Equal([4, 6, 7], pending!.Slots.Select(s => s.Index));
        Assert.True(pending.More);
        Assert.Equal([8, 9], lastPending!.Slots.Select(s => s.Index));
        Assert.False(lastPending.More);
    }

    [Fact]
    public async Task ABatchOfAnotherOwnerDoesNotExist()
    {
        var id = await CreateAsync(1, owner: "alice");

        Assert.NotNull(await Store.Queries.GetSummaryAsync(id, "alice", Ct));
        Assert.Null(await Store.Queries.GetSummaryAsync(id, "bob", Ct));
        Assert.Null(await Store.Queries.GetSummaryAsync(id, null, Ct));
        Assert.Equal(CancelOutcome.NotFound, (await Store.Commands.CancelAsync(id, "bob", DateTimeOffset.UtcNow, Ct)).Outcome);
        Assert.False(await Store.Commands.DeleteAsync(id, null, Ct));
    }

    [Fact]
    public async Task AGroupWriteRecordsResultsCountsThemAndCompletesTheBatch()
    {
        var id = await CreateAsync(3);
        await ClaimAllAsync();

        var first = await Store.Sink.WriteAsync([Fetched(id, 0)], [new BatchStarted(id, T0)], DateTimeOffset.UtcNow, Ct);
        var running = await Store.Queries.GetSummaryAsync(id, null, Ct);
        var last = await WriteAsync(Fetched(id, 1, status: 404), Failed(id, 2));
        var done = await Store.Queries.GetPageAsync(id, null, null, -1, 10, Ct);

        Assert.Equal([id], first.Touched);
        Assert.Empty(first.Completed);
        Assert.Equal((BatchStatus.Running, T0), (running!.Status, running.StartedAt));
        Assert.Equal([id], last.Completed);
        Assert.Equal(BatchStatus.Completed, done!.Summary.Status);
        Assert.Equal(new BatchCounts(3, 0, 2, 1, 0), done.Summary.Counts);
        Assert.Equal(404, done.Slots[1].Response!.StatusCode);
    }

    [Fact]
    public async Task ASlotIsFinalOnceWhateverIsWrittenLater()
    {
        var id = await CreateAsync(2);
        await ClaimAllAsync();
        await WriteAsync(Fetched(id, 0));

        await WriteAsync(Failed(id, 0));
        var page = await Store.Queries.GetPageAsync(id, null, null, -1, 10, Ct);

        Assert.Equal(SlotState.Fetched, page!.Slots[0].State);
        Assert.Equal(new BatchCounts(2, 1, 1, 0, 0), page.Summary.Counts);
    }

    [Fact]
    public async Task FinalSlotsComeInTheOrderTheyBecameFinalAfterACursor()
    {
        var id = await CreateAsync(4);
        await ClaimAllAsync();
        await WriteAsync(Fetched(id, 2));
        await WriteAsync(Fetched(id, 0), Failed(id, 3));

        var all = await Store.Queries.GetFinalSlotsAsync(id, null, 0, 100, Ct);
        var later = await Store.Queries.GetFinalSlotsAsync(id, null, all!.Slots[0].Sequence, 100, Ct);

        Assert.Equal([2, 0, 3], all.Slots.Select(s => s.Slot.Index));
        Assert.True(all.Slots.Zip(all.Slots.Skip(1)).All(p => p.First.Sequence < p.Second.Sequence));
        Assert.Equal([0, 3], later!.Slots.Select(s => s.Slot.Index));
    }

    [Fact]
    public async Task CancelMakesPendingSlotsCancelledKeepsFinalOnesAndIgnoresLateResults()
    {
        var id = await CreateAsync(4);
        await ClaimAllAsync();
        await WriteAsync(Fetched(id, 0));

        var (outcome, summary) = await Store.Commands.CancelAsync(id, null, DateTimeOffset.UtcNow, Ct);
        await WriteAsync(Fetched(id, 1));
        var again = await Store.Commands.CancelAsync(id, null, DateTimeOffset.UtcNow, Ct);
        var page = await Store.Queries.GetPageAsync(id, null, null, -1, 10, Ct);
        var events = await Store.Queries.GetFinalSlotsAsync(id, null, 0, 10, Ct);

        Assert.Equal(CancelOutcome.Cancelled, outcome);
        Assert.Equal((BatchStatus.Cancelled, new BatchCounts(4, 0, 1, 0, 3)), (summary!.Status, summary.Counts));
        Assert.Equal(CancelOutcome.AlreadyCancelled, again.Outcome);
        Assert.Equal([SlotState.Fetched, SlotState.Cancelled, SlotState.Cancelled, SlotState.Cancelled], page!.Slots.Select(s => s.State));
        Assert.Equal([0, 1, 2, 3], events!.Slots.Select(s => s.Slot.Index));
    }

    [Fact]
    public async Task ACompletedBatchCannotBeCancelled()
    {
        var id = await CreateAsync(1);
        await ClaimAllAsync();
        await WriteAsync(Fetched(id, 0));

        Assert.Equal(CancelOutcome.AlreadyCompleted, (await Store.Commands.CancelAsync(id, null, DateTimeOffset.UtcNow, Ct)).Outcome);
    }

    [Fact]
    public async Task DeleteRemovesTheBatchAndItsSlots()
    {
        var id = await CreateAsync(3);

        Assert.True(await Store.Commands.DeleteAsync(id, null, Ct));
        Assert.Null(await Store.Queries.GetPageAsync(id, null, null, -1, 10, Ct));
        Assert.False(await Store.Commands.DeleteAsync(id, null, Ct));
    }

    /// <summary>
    /// A result still on its way when its batch was deleted (taken by the writer just before the delete) is dropped:
    /// it lands on no slot of a batch created after, even one stored where the deleted batch's slots were.
    /// </summary>
    [Fact]
    public async Task AResultOfADeletedBatchTouchesNoOtherBatch()
    {
        var gone = await CreateAsync(2);
        await ClaimAllAsync();
        Assert.True(await Store.Commands.DeleteAsync(gone, null, Ct));
        var next = await CreateAsync(2);
        await ClaimAllAsync();

        var written = await WriteAsync(Fetched(gone, 0), Failed(gone, 1));
        var page = await Store.Queries.GetPageAsync(next, null, null, -1, 10, Ct);

        Assert.DoesNotContain(gone, written.Completed);
        Assert.All(page!.Slots, s => Assert.Equal(SlotState.Pending, s.State));
        Assert.Equal(new BatchCounts(2, 2, 0, 0, 0), page.Summary.Counts);
    }

    [Fact]
    public async Task AnIdempotencyKeyReplaysItsBatchAndRefusesAnotherBody()
    {
        var key = new IdempotencyKey("key-1", "hash-a", TimeSpan.FromHours(24));
        var id = await CreateAsync(2, owner: "alice", key: key);
        NewBatch Another(string? owner) => new(Guid.CreateVersion7(), T0, Options(), ["http://127.0.0.1:9/x"], owner);

        var replay = await Store.Commands.CreateAsync(Another("alice"), key, () => true, Ct);
        var other = await Store.Commands.CreateAsync(Another("alice"), key with { RequestHash = "hash-b" }, () => true, Ct);
        var otherOwner = await Store.Commands.CreateAsync(Another("bob"), key, () => true, Ct);

        Assert.Equal((CreateOutcome.Replayed, id), (replay.Outcome, replay.BatchId));
        Assert.Equal((CreateOutcome.KeyReusedWithDifferentRequest, id), (other.Outcome, other.BatchId));
        Assert.Equal(CreateOutcome.Created, otherOwner.Outcome);
        Assert.NotEqual(id, otherOwner.BatchId);
    }

    [Fact]
    public async Task ABatchThatIsNotAdmittedIsNotStored()
    {
        var batch = new NewBatch(Guid.CreateVersion7(), T0, Options(), ["http://127.0.0.1:9/x"]);

        var created = await Store.Commands.CreateAsync(batch, null, () => false, Ct);

        Assert.Equal(CreateOutcome.NotAdmitted, created.Outcome);
        Assert.Null(await Store.Queries.GetSummaryAsync(batch.Id, null, Ct));
    }

    [Fact]
    public async Task ListingGoesNewestFirstWithACursorAndAStatusFilter()
    {
        var ids = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await CreateAsync(1, owner: "lister"));
        }

        await Store.Commands.CancelAsync(ids[1], "lister", DateTimeOffset.UtcNow, Ct);
        var first = await Store.Queries.ListAsync("lister", null, 2, null, Ct);
        var second = await Store.Queries.ListAsync("lister", null, 2, first.NextCursor, Ct);
        var cancelled = await Store.Queries.ListAsync("lister", BatchStatus.Cancelled, 10, null, Ct);

        Assert.Equal([ids[2], ids[1]], first.Batches.Select(b => b.Id));
        Assert.Equal([ids[0]], second.Batches.Select(b => b.Id));
        Assert.Null(second.NextCursor);
        Assert.Equal([ids[1]], cancelled.Batches.Select(b => b.Id));
    }

    [Fact]
    public async Task ACallbackIsDueOnceItsBatchEndsHandedOutOnceAndNotAfterDelivery()
    {
        var id = await CreateAsync(1, callback: new Callback("http://127.0.0.1:9/hook", "0123456789abcdef"));
        await ClaimAllAsync();
        var before = await Store.Outbox.GetDueAsync(DateTimeOffset.UtcNow, TimeSpan.FromMinutes(1), 10, Ct);
        await WriteAsync(Fetched(id, 0));

        var due = await Store.Outbox.GetDueAsync(DateTimeOffset.UtcNow, TimeSpan.FromMinutes(1), 10, Ct);
        var meanwhile = await Store.Outbox.GetDueAsync(DateTimeOffset.UtcNow, TimeSpan.FromMinutes(1), 10, Ct);
        var afterRound = await Store.Outbox.GetDueAsync(DateTimeOffset.UtcNow + TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(1), 10, Ct);
        await Store.Outbox.RecordAsync(id, CallbackState.Delivered, 2, null, Ct);
        var delivered = await Store.Outbox.GetDueAsync(DateTimeOffset.UtcNow + TimeSpan.FromHours(1), TimeSpan.FromMinutes(1), 10, Ct);

        Assert.Empty(before);
        var callback = Assert.Single(due);
        Assert.Equal(("http://127.0.0.1:9/hook", 0, BatchStatus.Completed), (callback.Callback.Url, callback.Attempts, callback.Summary.Status));
        Assert.Empty(meanwhile);
        Assert.Single(afterRound);
        Assert.Empty(delivered);
    }

    [Fact]
    public async Task RetentionDeletesEndedBatchesOnlyAndKeepsUndeliveredCallbacks()
    {
        var ended = await CreateAsync(1);
        var running = await CreateAsync(1);
        var withCallback = await CreateAsync(1, callback: new Callback("http://127.0.0.1:9/hook", "0123456789abcdef"));
        await ClaimAllAsync();
        await WriteAsync(Fetched(ended, 0), Fetched(withCallback, 0));

        var deleted = await Store.Retention.DeleteEndedBeforeAsync(DateTimeOffset.UtcNow + TimeSpan.FromDays(1), DateTimeOffset.UtcNow, 100, Ct);

        Assert.Equal(1, deleted);
        Assert.Null(await Store.Queries.GetSummaryAsync(ended, null, Ct));
        Assert.NotNull(await Store.Queries.GetSummaryAsync(running, null, Ct));
        Assert.NotNull(await Store.Queries.GetSummaryAsync(withCallback, null, Ct));
    }

    [Fact]
    public async Task OpeningAgainKeepsTheDataAndANewerSchemaIsRefused()
    {
        var id = await CreateAsync(1);
        await using (var again = await StoreUnderTest.OpenAsync(Provider, _connectionString, "node-b"))
        {
            Assert.NotNull(await again.Queries.GetSummaryAsync(id, null, Ct));
        }

        await SetSchemaVersionAsync(_connectionString, 999);

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => StoreUnderTest.OpenAsync(Provider, _connectionString, "node-c"));
        Assert.Contains("999", refused.Message, StringComparison.Ordinal);
    }

    async Task<FetchOptions> UnfinishedOptionsAsync() => Store.Claims is { } claims
        ? (await claims.ClaimAsync(10, DateTimeOffset.UtcNow, () => Unwritten.None, Ct)).Batches.Single().Options
        : (await Store.Work.GetUnfinishedAsync(Ct)).Single().Options;

    [Fact]
    public async Task WhatAPageGaveIsKeptWithItsSlotAndWhatToExtractWithTheBatch()
    {
        var batch = new NewBatch(Guid.CreateVersion7(), T0, Options() with { Extract = [ExtractField.Title, ExtractField.Links] },
            ["http://127.0.0.1:9/0", "http://127.0.0.1:9/1"]);
        var id = (await Store.Commands.CreateAsync(batch, null, () => true, Ct)).BatchId;
        var unfinished = await UnfinishedOptionsAsync();
        await ClaimAllAsync();
        var page = Fetched(id, 0);
        var extracted = new Extracted { Title = "Ünïcode title", Links = ["http://example.com/a", "https://example.org/"], Text = "some text" };
        await WriteAsync(page with { Result = page.Result with { Response = page.Result.Response! with { Extracted = extracted } } }, Fetched(id, 1));

        var read = await Store.Queries.GetPageAsync(id, null, null, -1, 10, Ct);
        var stored = read!.Slots[0].Response!.Extracted!;

        Assert.Equal([ExtractField.Title, ExtractField.Links], read.Summary.Options.Extract);
        Assert.Equal([ExtractField.Title, ExtractField.Links], unfinished.Extract);
        Assert.Equal((extracted.Title, extracted.Description, extracted.Text, extracted.Error), (stored.Title, stored.Description, stored.Text, stored.Error));
        Assert.Equal(extracted.Links, stored.Links);
        Assert.Null(read.Slots[1].Response!.Extracted);
    }

    [Fact]
    public async Task OptionsStoredBeforeExtractExistedReadAsExtractingNothing()
    {
        var id = await CreateAsync(1);
        const string older = """{"concurrency":100,"timeoutSeconds":10,"maxAttempts":3,"method":"GET","headers":{},"includeBody":false,"maxBodyBytes":1024,"followRedirects":true,"maxRedirects":5}""";
        await RunSqlAsync(_connectionString, $"UPDATE batches SET options = '{older}';");

        var summary = await Store.Queries.GetSummaryAsync(id, null, Ct);

        Assert.Empty(summary!.Options.Extract);
        Assert.Empty((await UnfinishedOptionsAsync()).Extract);
    }

    [Fact]
    public async Task TheStoreAnswersItsHealthCheck()
    {
        await Store.Store.CheckAsync(Ct);
    }
}
