using System.Net;
using FetchApi.IntegrationTests.Conveniences;
using FetchApi.IntegrationTests.Upstream;
using Microsoft.Data.Sqlite;

namespace FetchApi.IntegrationTests.Durability;

public sealed class StoreTests
{
    static SqliteConnection Open(string path)
    {
        var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        return connection;
    }

    static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    [Fact]
    public async Task PostingWhileTheStoreIsLockedAnswers503WithRetryAfterThenWorksAgain()
    {
        await using var upstream = await UpstreamServer.StartAsync();
        await using var factory = new FetchApiFactory(new Dictionary<string, string?> { ["Storage:BusyTimeout"] = "00:00:00.200" });
        using var client = factory.CreateClient();
        var body = $$"""{"urls":["{{upstream.Url("/ok")}}"]}""";

        using (var locker = Open(factory.DatabasePath))
        {
            Execute(locker, "BEGIN IMMEDIATE;");
            var (status, problem, response) = await client.PostRawAsync("/batches", body);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            Assert.Equal("store_unavailable", problem!["code"]!.GetValue<string>());
            Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero);
            Execute(locker, "ROLLBACK;");
        }

        var (after, _, _) = await client.PostRawAsync("/batches", body);
        Assert.Equal(HttpStatusCode.Accepted, after);
    }

    [Fact]
    public async Task ResultsFinishedWhileTheStoreIsLockedAreWrittenOnceItIsFree()
    {
        await using var upstream = await UpstreamServer.StartAsync();
        await using var factory = new FetchApiFactory(new Dictionary<string, string?> { ["Storage:BusyTimeout"] = "00:00:00.050" });
        using var client = factory.CreateClient();
        var id = await client.SubmitAsync(Enumerable.Range(0, 40).Select(i => upstream.Url($"/delay/50?i={i}")), new { concurrency = 4 });

        using (var locker = Open(factory.DatabasePath))
        {
            Execute(locker, "BEGIN IMMEDIATE;");
            // Hold the lock while fetches finish: the writer must keep their results and retry.
            await Api.EventuallyAsync(() => upstream.Requests >= 20, "the engine stopped fetching while the store was locked");

            Execute(locker, "ROLLBACK;");
        }

        var slots = await client.ResultsAsync(id);
        Assert.Equal(40, slots.Count);
        Assert.All(slots, s => Assert.Equal("fetched", s.State()));
    }

    [Fact]
    public async Task FetchingPausesWhileResultsCannotBeWrittenSoMemoryStaysBounded()
    {
        const int maxUnwritten = 30, concurrency = 5, urls = 300;
        await using var upstream = await UpstreamServer.StartAsync();
        await using var factory = new FetchApiFactory(new Dictionary<string, string?>
        {
            ["Storage:BusyTimeout"] = "00:00:00.050",
            ["Engine:MaxUnwrittenResults"] = $"{maxUnwritten}",
        });
        using var client = factory.CreateClient();
        var id = await client.SubmitAsync(Enumerable.Range(0, urls).Select(i => upstream.Url($"/gate/unwritten?i={i}")), new { concurrency });
        await Api.EventuallyAsync(() => upstream.Requests == concurrency, "the first fetches did not start");

        using (var locker = Open(factory.DatabasePath))
        {
            Execute(locker, "BEGIN IMMEDIATE;");
            upstream.Open("unwritten");
            // The writer cannot write: once maxUnwritten results wait, the engine starts nothing and readiness says why.
            await Api.EventuallyAsync(async () =>
            {
                using var ready = await client.GetAsync(new Uri("/health/ready", UriKind.Relative), TestContext.Current.CancellationToken);
                return (await ready.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).Contains("results wait to be written", StringComparison.Ordinal);
            }, "fetching did not pause while no result could be written");
            // At most the fetches in flight when it paused finish after it: nothing else was fetched.
            Assert.InRange(upstream.Requests, maxUnwritten, maxUnwritten + concurrency);

            Execute(locker, "ROLLBACK;");
        }

        var slots = await client.ResultsAsync(id);
        Assert.Equal(urls, slots.Count);
        Assert.All(slots, s => Assert.Equal("fetched", s.State()));
    }

    [Fact]
    public async Task BatchLargerThanTheInMemoryWindowCompletes()
    {
        await using var upstream = await UpstreamServer.StartAsync();
        await using var factory = new FetchApiFactory(new Dictionary<string, string?> { ["Engine:WindowSize"] = "16" });
        using var client = factory.CreateClient();

        var id = await client.SubmitAsync(Enumerable.Range(0, 300).Select(i => upstream.Url($"/ok?i={i}")), new { concurrency = 4 });
        var slots = await client.ResultsAsync(id);

        Assert.Equal(Enumerable.Range(0, 300), slots.Select(s => s["index"]!.GetValue<int>()));
        Assert.All(slots, s => Assert.Equal("fetched", s.State()));
        Assert.Equal(300, upstream.Requests);
    }

    [Fact]
    public async Task BatchesAreDeletedOnceTheirRetentionHasPassed()
    {
        await using var upstream = await UpstreamServer.StartAsync();
        await using var factory = new FetchApiFactory(new Dictionary<string, string?>
        {
            ["Storage:Retention"] = "00:00:01",
            ["Storage:RetentionSweepInterval"] = "00:00:00.100",
        });
        using var client = factory.CreateClient();
        var id = await client.SubmitAsync([upstream.Url("/ok")]);
        await client.WaitUntilDoneAsync(id);

        await Api.EventuallyAsync(async () =>
        {
            using var response = await client.GetAsync($"/batches/{id}", TestContext.Current.CancellationToken);
            return response.StatusCode == HttpStatusCode.NotFound;
        }, "the batch outlived its retention");
    }

    /// <summary>
    /// A file written by the build before the slots moved to a rowid table (schema 4): after the upgrade every slot
    /// reads back in input order with its stored result, the pending ones are fetched, and the order results became
    /// final goes on after the stored one (an event stream's ids keep increasing).
    /// </summary>
    [Fact]
    public async Task AFileOfTheEarlierSchemaKeepsItsResultsAndFetchesItsPendingSlotsAfterTheUpgrade()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var upstream = await UpstreamServer.StartAsync();
        var directory = Directory.CreateTempSubdirectory("fetchapi-upgrade-");
        var path = Path.Combine(directory.FullName, "earlier.db");
        using (var connection = Open(path))
        {
            foreach (var step in FetchApi.Storage.SqliteSchema.Steps[..4])
            {
                Execute(connection, step);
            }

            // Two running batches, stored as schema 4 stored them: a result, a pending slot and a failure, then two pending slots.
            const string options = """{"concurrency":4,"timeoutSeconds":10,"maxAttempts":1,"method":"GET","includeBody":false,"maxBodyBytes":1048576,"followRedirects":true,"maxRedirects":5}""";
            Execute(connection, "PRAGMA user_version = 4;");
            Execute(connection, $"""
                INSERT INTO batches (id, status, created_at, started_at, options, total, pending, fetched, failed, cancelled)
                VALUES ('{First}', 1, 1700000000000, 1700000000000, '{options}', 3, 1, 1, 1, 0),
                       ('{Second}', 0, 1700000000001, NULL, '{options}', 2, 2, 0, 0, 0);
                INSERT INTO slots (batch_seq, idx, url, state, attempts, duration_ms, status_code, reason, final_url, redirects, content_type,
                    content_length, sha256, done_seq)
                VALUES (1, 0, '{upstream.Url("/ok?i=0")}', 1, 1, 12, 200, 'OK', '{upstream.Url("/ok?i=0")}', 0, 'text/plain', 2, 'stored-hash', 7);
                INSERT INTO slots (batch_seq, idx, url) VALUES (1, 1, '{upstream.Url("/ok?i=1")}');
                INSERT INTO slots (batch_seq, idx, url, state, attempts, error_code, error_message, done_seq)
                VALUES (1, 2, '{upstream.Url("/refused")}', 2, 1, 2, 'stored failure', 8);
                INSERT INTO slots (batch_seq, idx, url) VALUES (2, 0, '{upstream.Url("/ok?j=0")}'), (2, 1, '{upstream.Url("/ok?j=1")}');
                UPDATE counters SET value = 8 WHERE name = 'done_seq';
                """);
        }

        await using (var factory = new FetchApiFactory(new Dictionary<string, string?> { ["Storage:ConnectionString"] = $"Data Source={path}" }))
        {
            using var client = factory.CreateClient();

            var first = await client.ResultsAsync(First);
            Assert.Equal([0, 1, 2], first.Select(s => s["index"]!.GetValue<int>()));
            Assert.Equal(["fetched", "fetched", "failed"], first.Select(s => s.State()));
            Assert.Equal("stored-hash", first[0]["response"]!["sha256"]!.GetValue<string>());
            Assert.Equal("stored failure", first[2]["error"]!["message"]!.GetValue<string>());
            Assert.NotEqual("stored-hash", first[1]["response"]!["sha256"]!.GetValue<string>());
            var second = await client.ResultsAsync(Second);
            Assert.Equal([upstream.Url("/ok?j=0"), upstream.Url("/ok?j=1")], second.Select(s => s["url"]!.GetValue<string>()));
            Assert.All(second, s => Assert.Equal("fetched", s.State()));
            Assert.Equal(3, upstream.Requests); // the stored results were not fetched again

            var events = await ConvenienceTests.ReadEventsAsync(client, $"/batches/{First}/events");
            var results = events.Where(e => e.Event == "result").ToList();
            Assert.Equal([0, 2, 1], results.Select(e => e.Data["index"]!.GetValue<int>()));
            Assert.Equal(["7", "8"], results.Take(2).Select(e => e.Id));
            Assert.True(long.Parse(results[2].Id!, System.Globalization.CultureInfo.InvariantCulture) > 8, $"id {results[2].Id} after 8");
        }

        directory.Delete(recursive: true);
    }

    static readonly Guid First = Guid.Parse("6f1c8a52-0d3e-4b7a-9c21-5e8f7a6b4c31");
    static readonly Guid Second = Guid.Parse("2b9e4d17-8a6c-4f05-b3d2-1c7e9f0a8b64");

    [Fact]
    public async Task DatabaseFromANewerBuildStopsTheServiceWithAClearMessage()
    {
        var directory = Path.Combine(Path.GetTempPath(), "fetchapi-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, "future.db");
        using (var connection = Open(path))
        {
            Execute(connection, "PRAGMA user_version = 999;");
        }

        await using var factory = new FetchApiFactory(new Dictionary<string, string?> { ["Storage:ConnectionString"] = $"Data Source={path}" });
        var error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());
        Assert.Contains("schema version 999", error.ToString(), StringComparison.Ordinal);
        Directory.Delete(directory, recursive: true);
    }
}
