using FetchApi.Batches;
using FetchApi.Engine;
using FetchApi.IntegrationTests.Postgres;
using FetchApi.Model;
using FetchApi.Storage;
using Npgsql;
using System.Globalization;

namespace FetchApi.IntegrationTests.Storage;

/// <summary>
/// Several nodes on one real PostgreSQL database, as store roles (no HTTP): each node claims only the hosts it owns;
/// claims keep each batch's concurrency and each host's limit across nodes, share fairly, expire and are taken over, at
/// once when their node's connection is gone; a result counts only while its claim is held; notifications reach the
/// other nodes. Time is passed to claims, so expiry needs no sleeping.
/// </summary>
public sealed class PostgresClaimTests(PostgresFixture postgres) : IAsyncLifetime
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    readonly List<StoreUnderTest> _nodes = [];
    string _database = "";

    public async ValueTask InitializeAsync() => _database = await postgres.CreateDatabaseAsync();

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }
    }

    async Task<StoreUnderTest> NodeAsync(string name, int perHost = 1000)
    {
        var node = await StoreUnderTest.OpenAsync(StorageProvider.Postgres, _database, name, new Dictionary<string, string?>
        {
            ["Engine:PerHostConcurrency"] = perHost.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Engine:LeaseDuration"] = "00:00:30",
        });
        _nodes.Add(node);
        return node;
    }

    /// <summary>A host name (port 80) whose hosts' bucket, as PostgreSQL hashes it, belongs to <paramref name="owner"/> among <paramref name="live"/>.</summary>
    async Task<string> HostOwnedByAsync(string owner, params string[] live)
    {
        await using var connection = new NpgsqlConnection(_database);
        await connection.OpenAsync(Ct);
        for (var i = 0; ; i++)
        {
            var host = $"h{i}-{owner}.test";
            await using var command = new NpgsqlCommand($"SELECT hashtext(@h) & {HostOwnership.Buckets - 1};", connection)
            {
                Parameters = { new NpgsqlParameter("h", host + ":80") },
            };
            if (HostOwnership.OwnerOf(Convert.ToInt32(await command.ExecuteScalarAsync(Ct), CultureInfo.InvariantCulture), live) == owner)
            {
                return host;
            }
        }
    }

    static Task<Guid> CreateAsync(StoreUnderTest node, int urls, int concurrency, string host = "127.0.0.1:9") =>
        CreateAsync(node, urls, concurrency, [host]);

    /// <summary>A batch whose URLs go round <paramref name="hosts"/>: URL i on host i % hosts.Length.</summary>
    static async Task<Guid> CreateAsync(StoreUnderTest node, int urls, int concurrency, string[] hosts)
    {
        var options = new FetchOptions
        {
            Concurrency = concurrency, TimeoutSeconds = 10, MaxAttempts = 1, Method = "GET", IncludeBody = false, MaxBodyBytes = 1024,
            FollowRedirects = false, MaxRedirects = 0,
        };
        var batch = new NewBatch(Guid.CreateVersion7(), DateTimeOffset.UtcNow, options, [.. Enumerable.Range(0, urls).Select(i => $"http://{hosts[i % hosts.Length]}/{i}")]);
        Assert.Equal(CreateOutcome.Created, (await node.Commands.CreateAsync(batch, null, () => true, Ct)).Outcome);
        return batch.Id;
    }

    static int Count(Claim claim, Guid? batch = null) => claim.Batches.Where(b => batch is null || b.Id == batch).Sum(b => b.Slots.Count);

    static SlotUpdate Fetched(Guid batch, int index) => new(batch, new SlotResult
    {
        Index = index, Url = $"http://127.0.0.1:9/{index}", State = SlotState.Fetched, Attempts = 1,
        Response = new FetchResponse { StatusCode = 200, FinalUrl = $"http://127.0.0.1:9/{index}", Sha256 = "abc" },
    });

    [Fact]
    public async Task ABatchsConcurrencyHoldsAcrossNodesEachClaimingOnlyItsOwnHosts()
    {
        var a = await NodeAsync("a");
        var b = await NodeAsync("b");
        var (hostA, hostB) = (await HostOwnedByAsync("a", "a", "b"), await HostOwnedByAsync("b", "a", "b"));
        var id = await CreateAsync(a, 20, concurrency: 5, [hostA, hostB]);
        var now = DateTimeOffset.UtcNow;

        var first = await a.Claims!.ClaimAsync(100, now, () => Unwritten.None, Ct);
        var full = await b.Claims!.ClaimAsync(100, now, () => Unwritten.None, Ct);
        await a.Sink.WriteAsync([Fetched(id, first.Batches[0].Slots[0].Index), Fetched(id, first.Batches[0].Slots[1].Index)], [], now, Ct);
        var freed = await b.Claims.ClaimAsync(100, now, () => Unwritten.None, Ct);

        Assert.Equal(5, Count(first));
        Assert.All(first.Batches.SelectMany(c => c.Slots), s => Assert.Contains(hostA, s.Url, StringComparison.Ordinal));
        Assert.Equal(0, Count(full)); // the batch's concurrency is taken, whoever holds it
        Assert.Equal(2, Count(freed));
        Assert.All(freed.Batches.SelectMany(c => c.Slots), s => Assert.Contains(hostB, s.Url, StringComparison.Ordinal));
        Assert.Equal(20, first.ClusterBacklog);
    }

    [Fact]
    public async Task AFetchFinishedButNotYetWrittenNoLongerCountsAgainstTheLimitsAndOnceWrittenIsNotSubtractedTwice()
    {
        var a = await NodeAsync("a", perHost: 2);
        var id = await CreateAsync(a, 10, concurrency: 2);
        var now = DateTimeOffset.UtcNow;
        var first = await a.Claims!.ClaimAsync(10, now, () => Unwritten.None, Ct);
        var finished = first.Batches[0].Slots[0].Index;

        var stillInFlight = await a.Claims.ClaimAsync(10, now, () => Unwritten.None, Ct);
        var oneFinished = await a.Claims.ClaimAsync(10, now, () => new Unwritten([id], [finished]), Ct);
        // Its result is committed now (its lease gone), but the node still names it: no room is counted twice.
        await a.Sink.WriteAsync([Fetched(id, finished)], [], now, Ct);
        var written = await a.Claims.ClaimAsync(10, now, () => new Unwritten([id], [finished]), Ct);

        Assert.Equal(2, Count(first));
        Assert.Equal(0, Count(stillInFlight));
        Assert.Equal(1, Count(oneFinished));
        Assert.Equal(0, Count(written));
    }

    [Fact]
    public async Task AHostsLimitHoldsAcrossBatchesAndAHostThatMovesKeepsItsPreviousOwnersFetchesCounted()
    {
        var a = await NodeAsync("a", perHost: 3);
        var busy = await HostOwnedByAsync("b", "a", "b");
        await CreateAsync(a, 10, concurrency: 10, host: busy);
        await CreateAsync(a, 10, concurrency: 10, host: busy);
        var now = DateTimeOffset.UtcNow;

        // Alone, node a owns every host: three on the busy host, the limit shared by two batches.
        var alone = await a.Claims!.ClaimAsync(100, now, () => Unwritten.None, Ct);
        // Node b joins and owns the busy host now; a's three fetches there are still in flight.
        var b = await NodeAsync("b", perHost: 3);
        var joined = await b.Claims!.ClaimAsync(100, now, () => Unwritten.None, Ct);
        var notMine = await a.Claims.ClaimAsync(100, now, () => Unwritten.None, Ct);
        var written = alone.Batches[0];
        await a.Sink.WriteAsync([Fetched(written.Id, written.Slots[0].Index)], [], now, Ct);
        var oneFinished = await b.Claims.ClaimAsync(100, now, () => Unwritten.None, Ct);

        Assert.Equal(3, Count(alone));
        Assert.Equal(0, Count(joined));
        Assert.Equal(0, Count(notMine));
        Assert.Equal(1, Count(oneFinished));
    }

    [Fact]
    public async Task ClaimsShareCapacityFairlyBetweenBatches()
    {
        var a = await NodeAsync("a");
        var big = await CreateAsync(a, 100, concurrency: 100);
        var small = await CreateAsync(a, 4, concurrency: 20);

        var claim = await a.Claims!.ClaimAsync(8, DateTimeOffset.UtcNow, () => Unwritten.None, Ct);

        Assert.Equal(4, Count(claim, big));
        Assert.Equal(4, Count(claim, small));
    }

    [Fact]
    public async Task TheBatchWithFewestFetchesInFlightIsServedFirst()
    {
        var a = await NodeAsync("a");
        var b = await NodeAsync("b");
        var (hostA, hostB) = (await HostOwnedByAsync("a", "a", "b"), await HostOwnedByAsync("b", "a", "b"));
        var busy = await CreateAsync(a, 100, concurrency: 100, [hostA, hostB]);
        var now = DateTimeOffset.UtcNow;
        await a.Claims!.ClaimAsync(50, now, () => Unwritten.None, Ct);
        var waiting = await CreateAsync(b, 10, concurrency: 10, hostB);

        // Both batches have slots on b's host; the busy one has 50 fetches in flight on node a.
        var claim = await b.Claims!.ClaimAsync(1, now, () => Unwritten.None, Ct);

        Assert.Equal(waiting, Assert.Single(claim.Batches).Id);
        Assert.NotEqual(busy, waiting);
    }

    [Fact]
    public async Task AnExpiredLeaseIsTakenOverAndTheOldHoldersLateResultIsIgnored()
    {
        var a = await NodeAsync("a");
        var b = await NodeAsync("b");
        var id = await CreateAsync(a, 2, concurrency: 10, await HostOwnedByAsync("a", "a", "b"));
        var now = DateTimeOffset.UtcNow;
        await a.Claims!.ClaimAsync(10, now, () => Unwritten.None, Ct);

        // Node a's process still holds its lock but stops renewing: past the lease it is not alive, its hosts move.
        var beforeExpiry = await b.Claims!.ClaimAsync(10, now + TimeSpan.FromSeconds(29), () => Unwritten.None, Ct);
        var afterExpiry = await b.Claims.ClaimAsync(10, now + TimeSpan.FromSeconds(31), () => Unwritten.None, Ct);
        await a.Sink.WriteAsync([Fetched(id, 0)], [], now, Ct);
        await b.Sink.WriteAsync([Fetched(id, 1)], [], now, Ct);
        var page = await a.Queries.GetPageAsync(id, null, null, -1, 10, Ct);

        Assert.Equal(0, Count(beforeExpiry));
        Assert.Equal((2, 2), (Count(afterExpiry), afterExpiry.TakenOver));
        Assert.Equal([SlotState.Pending, SlotState.Fetched], page!.Slots.Select(s => s.State));
        Assert.Equal(new BatchCounts(2, 1, 1, 0, 0), page.Summary.Counts);
    }

    [Fact]
    public async Task RenewedLeasesAreNotTakenOver()
    {
        var a = await NodeAsync("a");
        var b = await NodeAsync("b");
        await CreateAsync(a, 3, concurrency: 10, await HostOwnedByAsync("a", "a", "b"));
        var other = await CreateAsync(a, 3, concurrency: 10, await HostOwnedByAsync("b", "a", "b"));
        var now = DateTimeOffset.UtcNow;
        await a.Claims!.ClaimAsync(10, now, () => Unwritten.None, Ct);

        var renewed = await a.Claims.RenewAsync(now + TimeSpan.FromSeconds(20), Ct);
        var claim = await b.Claims!.ClaimAsync(10, now + TimeSpan.FromSeconds(40), () => Unwritten.None, Ct);

        Assert.Equal(3, renewed);
        Assert.Equal((3, 0), (Count(claim, other), claim.TakenOver)); // b claims its own host's slots and takes nothing of a's
    }

    [Fact]
    public async Task AHostHeldByRetryAfterIsClaimedByNoNodeUntilThen()
    {
        var a = await NodeAsync("a");
        var b = await NodeAsync("b");
        var slow = await HostOwnedByAsync("b", "a", "b");
        await CreateAsync(a, 3, concurrency: 10, host: slow);
        var now = DateTimeOffset.UtcNow;

        await a.Claims!.HoldHostAsync($"{slow}:80", now + TimeSpan.FromMinutes(1), Ct);
        var held = await b.Claims!.ClaimAsync(10, now, () => Unwritten.None, Ct);
        var later = await b.Claims.ClaimAsync(10, now + TimeSpan.FromMinutes(2), () => Unwritten.None, Ct);

        Assert.Equal(0, Count(held));
        Assert.Equal(3, Count(later));
    }

    [Fact]
    public async Task ACancelOnOneNodeReachesTheOthers()
    {
        var a = await NodeAsync("a");
        var b = await NodeAsync("b");
        var id = await CreateAsync(a, 3, concurrency: 10);
        var heard = new TaskCompletionSource<Guid>(TaskCreationOptions.RunContinuationsAsynchronously);
        b.Changes.Cancelled += cancelled => heard.TrySetResult(cancelled);

        await a.Commands.CancelAsync(id, null, DateTimeOffset.UtcNow, Ct);

        Assert.Equal(id, await heard.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct));
    }

    [Fact]
    public async Task ResultsWrittenOnOneNodeWakeWaitersOnAnother()
    {
        var a = await NodeAsync("a");
        var b = await NodeAsync("b");
        var id = await CreateAsync(a, 1, concurrency: 10, await HostOwnedByAsync("a", "a", "b"));
        Assert.Equal(1, Count(await a.Claims!.ClaimAsync(10, DateTimeOffset.UtcNow, () => Unwritten.None, Ct)));
        var change = b.Changes.Next(id);

        await a.Sink.WriteAsync([Fetched(id, 0)], [], DateTimeOffset.UtcNow, Ct);

        await change.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(BatchStatus.Completed, (await b.Queries.GetSummaryAsync(id, null, Ct))!.Status);
    }

    [Fact]
    public async Task TheLeasesOfANodeWhoseConnectionEndedAreTakenOverAtOnceNotAfterTheLease()
    {
        var a = await NodeAsync("a");
        var b = await NodeAsync("b");
        var id = await CreateAsync(a, 4, concurrency: 10, await HostOwnedByAsync("a", "a", "b"));
        var now = DateTimeOffset.UtcNow;
        Assert.Equal(4, Count(await a.Claims!.ClaimAsync(10, now, () => Unwritten.None, Ct)));
        var whileAlive = await b.Claims!.ClaimAsync(10, now, () => Unwritten.None, Ct);

        // Node a's process ends without releasing anything (as a killed one does): its connections close.
        _nodes.Remove(a);
        await a.DisposeAsync();
        var takeOver = await WithDeadlineAsync(() => b.Claims.ClaimAsync(10, now, () => Unwritten.None, Ct), c => Count(c) == 4);

        Assert.Equal(0, Count(whileAlive));
        Assert.Equal((4, 4), (Count(takeOver, id), takeOver.TakenOver));
    }

    [Fact]
    public async Task ANodeRestartedUnderTheSameIdTakesItsPredecessorsLeasesAtOnce()
    {
        var first = await NodeAsync("a");
        var id = await CreateAsync(first, 4, concurrency: 10);
        var now = DateTimeOffset.UtcNow;
        Assert.Equal(4, Count(await first.Claims!.ClaimAsync(10, now, () => Unwritten.None, Ct)));

        // The same id again while the first process still runs and renews: the first one's leases are nobody's now.
        var second = await NodeAsync("a");
        await first.Claims.RenewAsync(now, Ct);
        var claim = await second.Claims!.ClaimAsync(10, now, () => Unwritten.None, Ct);
        await first.Sink.WriteAsync([Fetched(id, 0)], [], now, Ct);
        var page = await second.Queries.GetPageAsync(id, null, null, -1, 10, Ct);

        Assert.Equal((4, 4), (Count(claim, id), claim.TakenOver));
        Assert.All(page!.Slots, s => Assert.Equal(SlotState.Pending, s.State)); // the predecessor's late result is not written
    }

    /// <summary>Claims again until <paramref name="done"/> says so (PostgreSQL sees a closed connection a moment later).</summary>
    static async Task<Claim> WithDeadlineAsync(Func<Task<Claim>> claim, Func<Claim, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            var result = await claim();
            if (done(result) || DateTime.UtcNow > deadline)
            {
                return result;
            }

            await Task.Delay(20, Ct);
        }
    }

    [Fact]
    public async Task ThreeHundredBatchesWaitingOnOneNodeAreAllWokenByOneWriteOnAnother()
    {
        var a = await NodeAsync("a");
        var b = await NodeAsync("b");
        var host = await HostOwnedByAsync("b", "a", "b");
        var ids = new List<Guid>();
        for (var i = 0; i < 300; i++)
        {
            ids.Add(await CreateAsync(a, 1, concurrency: 1, host));
        }

        // A claim looks at 256 batches at most: two claims take all 300.
        var claimed = new List<ClaimedBatch>();
        claimed.AddRange((await b.Claims!.ClaimAsync(1000, DateTimeOffset.UtcNow, () => Unwritten.None, Ct)).Batches);
        claimed.AddRange((await b.Claims!.ClaimAsync(1000, DateTimeOffset.UtcNow, () => Unwritten.None, Ct)).Batches);
        var woken = ids.Select(id => a.Changes.Next(id)).ToList();

        // One write touches all 300 batches: more than one NOTIFY payload holds.
        await b.Sink.WriteAsync([.. claimed.Select(c => Fetched(c.Id, c.Slots[0].Index))], [], DateTimeOffset.UtcNow, Ct);

        Assert.Equal(300, claimed.Count);
        await Task.WhenAll(woken).WaitAsync(TimeSpan.FromSeconds(10), Ct);
    }

    [Fact]
    public async Task OneIdempotencyKeyOnTwoNodesAtOnceMakesOneBatch()
    {
        var a = await NodeAsync("a");
        var b = await NodeAsync("b");
        var key = new IdempotencyKey("same-key", "same-body", TimeSpan.FromHours(1));
        NewBatch Batch() => new(Guid.CreateVersion7(), DateTimeOffset.UtcNow, new FetchOptions
        {
            Concurrency = 1, TimeoutSeconds = 1, MaxAttempts = 1, Method = "GET", IncludeBody = false, MaxBodyBytes = 1, FollowRedirects = false,
            MaxRedirects = 0,
        }, ["http://127.0.0.1:9/"]);

        var results = await Task.WhenAll(
            Enumerable.Range(0, 10).Select(i => (i % 2 == 0 ? a : b).Commands.CreateAsync(Batch(), key, () => true, Ct)));

        Assert.Single(results, r => r.Outcome == CreateOutcome.Created);
        Assert.Single(results.Select(r => r.BatchId).Distinct());
    }

    [Fact]
    public async Task NodesStartingTogetherOnAnEmptyDatabaseMigrateItOnce()
    {
        var database = await postgres.CreateDatabaseAsync();

        var nodes = await Task.WhenAll(Enumerable.Range(0, 4).Select(i =>
            StoreUnderTest.OpenAsync(StorageProvider.Postgres, database, $"starter-{i}")));
        _nodes.AddRange(nodes);

        var id = await CreateAsync(nodes[0], 1, concurrency: 1);
        Assert.NotNull(await nodes[3].Queries.GetSummaryAsync(id, null, Ct));
    }
}
