using System.Net;
using System.Text.Json.Nodes;
using FetchApi.IntegrationTests.Durability;
using FetchApi.IntegrationTests.Postgres;
using FetchApi.IntegrationTests.Upstream;
using Npgsql;

namespace FetchApi.IntegrationTests.Cluster;

/// <summary>
/// Three real service processes on one real PostgreSQL database, fetching from a loopback upstream, used as an operator
/// would: batches sent to any node, read through another, limits that hold across the cluster, a node killed with
/// SIGKILL while it holds leases (its work taken over at once, not after its five-minute lease), the killed node back
/// under its id, a per-host rate and robots.txt kept by the host's one owner, cancel and events across nodes.
/// </summary>
public sealed class ClusterTests(PostgresFixture postgres) : IAsyncLifetime
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    readonly List<ServiceProcess> _nodes = [];
    UpstreamServer _upstream = null!;
    string _database = "";

    public async ValueTask InitializeAsync()
    {
        _database = await postgres.CreateDatabaseAsync();
        _upstream = await UpstreamServer.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }

        await _upstream.DisposeAsync();
    }

    // Five minutes: whatever a test sees taken over within its deadline was taken over because its node died, not
    // because its lease ran out.
    Dictionary<string, string> Settings(string name, int perHost) => new()
    {
        ["Storage__Provider"] = "Postgres",
        ["Storage__ConnectionString"] = _database,
        ["Engine__NodeId"] = name,
        ["Engine__LeaseDuration"] = "00:05:00",
        ["Engine__PerHostConcurrency"] = perHost.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Telemetry__Prometheus"] = "true",
    };

    /// <summary>How many slots a node has claimed, from its own metrics.</summary>
    static Task<double> ClaimedAsync(ServiceProcess node) => LeasesAsync(node, "claimed");

    /// <summary>How many leases a node counted under <paramref name="kind"/> (claimed, taken_over, renewed), from its own metrics.</summary>
    static async Task<double> LeasesAsync(ServiceProcess node, string kind)
    {
        var metrics = await node.Client.GetStringAsync("/metrics", Ct);
        var line = metrics.Split('\n').FirstOrDefault(l => l.StartsWith("fetchapi_leases_total{", StringComparison.Ordinal)
            && l.Contains($"event=\"{kind}\"", StringComparison.Ordinal));
        return line is null ? 0 : double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    async Task<ServiceProcess> StartNodeAsync(string name, int perHost = 256)
    {
        var node = await ServiceProcess.StartAsync(Path.Combine(Path.GetTempPath(), "unused.db"), Settings(name, perHost));
        _nodes.Add(node);
        return node;
    }

    async Task<ServiceProcess[]> StartClusterAsync(int perHost = 256)
    {
        // One after the other would do, but together is what a rolling start of an empty database looks like.
        var nodes = await Task.WhenAll(Enumerable.Range(1, 3).Select(i => ServiceProcess.StartAsync(
            Path.Combine(Path.GetTempPath(), "unused.db"), Settings($"node-{i}", perHost))));
        _nodes.AddRange(nodes);
        return nodes;
    }

    /// <summary>A URL of the upstream under its own host name (<c>*.localhost</c> is loopback): each host has one owner node.</summary>
    string OnHost(string host, string pathAndQuery) => $"http://{host}.localhost:{_upstream.BaseAddress.Port}{pathAndQuery}";

    async Task<long> ScalarAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_database);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(Ct), System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task ANodeStartedBeforePostgreSqlAnswersRunsWithoutItAndGoesOnOnceItDoes()
    {
        var server = await postgres.GetServerAsync();
        await using var late = new LatePort(server.Port);
        var settings = Settings("early", perHost: 256);
        settings["Storage__ConnectionString"] = new NpgsqlConnectionStringBuilder(_database) { Port = late.Port }.ConnectionString;

        var node = await ServiceProcess.StartAsync(Path.Combine(Path.GetTempPath(), "unused.db"), settings, ready: false);
        _nodes.Add(node);
        using (var ready = await node.Client.GetAsync("/health/ready", Ct))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        }

        var (status, body, _) = await node.Client.PostRawAsync("/batches", $$"""{"urls":["{{_upstream.Url("/ok")}}"]}""");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("store_unavailable", body!["code"]!.GetValue<string>());
        Assert.Contains("The store cannot be opened", node.Output, StringComparison.Ordinal);

        late.Open();
        await Api.EventuallyAsync(async () =>
        {
            using var ready = await node.Client.GetAsync("/health/ready", Ct);
            return ready.StatusCode == HttpStatusCode.OK;
        }, $"the node did not become ready once PostgreSQL answered:\n{node.Output}");
        var id = await node.Client.SubmitAsync([_upstream.Url("/ok")]);
        Assert.Equal("completed", (await node.Client.WaitUntilDoneAsync(id))["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task BatchesSentToEveryNodeCompleteAndReadTheSameThroughAnyOther()
    {
        var nodes = await StartClusterAsync();
        var ids = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await nodes[i].Client.SubmitAsync(
                Enumerable.Range(0, 50).Select(n => OnHost($"h{n}", $"/delay/10?b={i}&n={n}")), new { concurrency = 10 }));
        }

        for (var i = 0; i < 3; i++)
        {
            var reader = nodes[(i + 1) % 3].Client;
            var summary = await reader.WaitUntilDoneAsync(ids[i]);
            var slots = await reader.ResultsAsync(ids[i]);
            Assert.Equal("completed", summary["status"]!.GetValue<string>());
            Assert.Equal(Enumerable.Range(0, 50), slots.Select(s => s["index"]!.GetValue<int>()));
            Assert.All(slots, s => Assert.Equal(("fetched", 200), (s.State(), s.StatusCode())));
        }

        // Every node took part in the fetching: each owns some of the 50 hosts (all three own none with odds of 1 in 10^8).
        foreach (var node in nodes)
        {
            Assert.True(await ClaimedAsync(node) > 0, $"a node claimed nothing:\n{node.Output}");
        }
    }

    [Fact]
    public async Task AnUpstreamNeverSeesMoreThanThePerHostLimitFromTheWholeCluster()
    {
        var nodes = await StartClusterAsync(perHost: 4);

        var ids = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await nodes[i].Client.SubmitAsync(
                Enumerable.Range(0, 40).Select(n => _upstream.Url($"/delay/100?group=limited&b={i}&n={n}")), new { concurrency = 20 }));
        }

        foreach (var id in ids)
        {
            await nodes[0].Client.WaitUntilDoneAsync(id);
        }

        Assert.InRange(_upstream.MaxInFlight("limited"), 2, 4);
    }

    [Fact]
    public async Task ABatchsConcurrencyHoldsAcrossTheCluster()
    {
        var nodes = await StartClusterAsync();

        var id = await nodes[0].Client.SubmitAsync(Enumerable.Range(0, 60).Select(n => _upstream.Url($"/delay/100?group=batch&n={n}")),
            new { concurrency = 5 });
        await nodes[1].Client.WaitUntilDoneAsync(id);

        Assert.InRange(_upstream.MaxInFlight("batch"), 2, 5);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AKilledNodesWorkIsTakenOverInSecondsNotAfterItsLeaseAndNothingIsLostOrFetchedTwiceBeyondWhatItHeld(bool restartUnderItsId)
    {
        var nodes = await StartClusterAsync();
        const int urls = 600;
        var id = await nodes[0].Client.SubmitAsync(Enumerable.Range(0, urls).Select(n => OnHost($"h{n % 30}", $"/delay/50?n={n}")),
            new { concurrency = 60 });
        var victim = nodes[1];
        await Api.EventuallyAsync(
            async () => await ScalarAsync("SELECT count(*) FROM leases WHERE owner LIKE 'node-2#%'") > 0,
            "node-2 never held a lease");

        await victim.KillAsync();
        var killed = DateTime.UtcNow;
        if (!restartUnderItsId)
        {
            // How long its leases outlive it: until another node's claim sees its lock gone (docs/scale-out.md quotes this).
            await Api.EventuallyAsync(async () => await ScalarAsync("SELECT count(*) FROM leases WHERE owner LIKE 'node-2#%'") == 0,
                "node-2's leases were never taken over");
            TestContext.Current.TestOutputHelper?.WriteLine($"node-2's leases taken over {(DateTime.UtcNow - killed).TotalMilliseconds:F0} ms after SIGKILL");
        }

        if (restartUnderItsId)
        {
            // What the compose file does: the same Engine:NodeId again. Its predecessor's leases are not its own.
            nodes[1] = await StartNodeAsync("node-2");
        }

        else
        {
            await Api.EventuallyAsync(async () => await ScalarAsync("SELECT count(*) FROM leases WHERE owner LIKE 'node-2#%'") == 0,
                "the predecessor's leases were never taken over");
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"node-2's predecessor's leases taken over {(DateTime.UtcNow - killed).TotalMilliseconds:F0} ms after SIGKILL (restart included)");
        }

        // Api.DefaultDeadline (60 s) is a fifth of the lease: only the death itself can have freed node-2's slots.
        var survivor = nodes[2].Client;
        var deadline = DateTime.UtcNow + Api.DefaultDeadline;
        while (true)
        {
            var summary = await survivor.GetJsonAsync($"/batches/{id}?results=false");
            Api.AssertCountsAddUp(summary["counts"]!.AsObject());
            if (summary["status"]!.GetValue<string>() == "completed")
            {
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, $"the batch did not complete after node-2 died: {summary}");
            await Task.Delay(50, Ct);
        }

        var slots = await survivor.ResultsAsync(id);
        Assert.Equal(Enumerable.Range(0, urls), slots.Select(s => s["index"]!.GetValue<int>()));
        Assert.All(slots, s => Assert.Equal(("fetched", 200), (s.State(), s.StatusCode())));
        var fetchedTwice = _upstream.RequestsPerUrl.Count(u => u.Key.StartsWith("/delay/50", StringComparison.Ordinal) && u.Value > 1);
        // What the dead node held at its death, the others took over (a lease of a live node is never taken: five minutes).
        var held = 0.0;
        foreach (var node in restartUnderItsId ? nodes : [nodes[0], nodes[2]])
        {
            held += await LeasesAsync(node, "taken_over");
        }

        Assert.True(held > 0, "nothing of node-2 was taken over");
        Assert.InRange(fetchedTwice, 0, held);
        Assert.Equal(0, await ScalarAsync("SELECT count(*) FROM leases"));

        // The node (back, or started again now) takes work again.
        var back = restartUnderItsId ? nodes[1] : await StartNodeAsync("node-2");
        var again = await back.Client.SubmitAsync(Enumerable.Range(0, 30).Select(n => OnHost($"again{n}", $"/ok?again={n}")));
        Assert.Equal("completed", (await back.Client.WaitUntilDoneAsync(again))["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task AHostsRequestRateAndRobotsTxtHoldAcrossTheClusterBecauseOneNodeOwnsTheHost()
    {
        var nodes = await StartClusterAsync();
        _upstream.Robots = (200, "User-agent: *\nAllow: /\n");
        var ids = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            // The same host from every node, each batch asking for 10 requests per second.
            ids.Add(await nodes[i].Client.SubmitAsync(Enumerable.Range(0, 12).Select(n => OnHost("paced", $"/ok?paced={i}-{n}")),
                new { concurrency = 20, perHostRequestsPerSecond = 10, respectRobotsTxt = true }));
        }

        foreach (var id in ids)
        {
            Assert.Equal("completed", (await nodes[0].Client.WaitUntilDoneAsync(id))["status"]!.GetValue<string>());
        }

        var starts = _upstream.Arrivals.Where(a => a.PathAndQuery.StartsWith("/ok?paced=", StringComparison.Ordinal))
            .Select(a => a.At).Order().ToList();
        // The site's busiest second: starts are 100 ms apart, so the 11th arrives about 1 s after the first, a few ms
        // under it at worst (arrival jitter); three nodes pacing on their own (before hosts had one owner) gave about 30.
        var busiest = starts.Select((t, k) => starts.Skip(k).TakeWhile(u => u - t < TimeSpan.FromSeconds(1)).Count()).Max();
        Assert.Equal(36, starts.Count);
        Assert.InRange(busiest, 1, 11);
        Assert.Equal(1, _upstream.Arrivals.Count(a => a.PathAndQuery == "/robots.txt"));
    }

    [Fact]
    public async Task AHostSlowedDownByItsOwnerStaysSlowedWhenTheOwnerDies()
    {
        var nodes = await StartClusterAsync();
        var key = $"pushback.localhost:{_upstream.BaseAddress.Port}";
        // Six 429s without Retry-After answered together: the owner doubles the host's spacing six times (to 3.2 s).
        var first = await nodes[0].Client.SubmitAsync(Enumerable.Range(0, 6).Select(n => OnHost("pushback", $"/status/429?n={n}")),
            new { maxAttempts = 1 });
        await nodes[0].Client.WaitUntilDoneAsync(first);
        await Api.EventuallyAsync(async () => await ScalarAsync($"SELECT COALESCE(max(slow_down_ms), 0) FROM host_holds WHERE host = '{key}'") >= 1000,
            "the owner never recorded the host's slow-down");
        int victim;
        await using (var connection = new NpgsqlConnection(_database))
        {
            await connection.OpenAsync(Ct);
            await using var command = new NpgsqlCommand($"SELECT slowed_by FROM host_holds WHERE host = '{key}'", connection);
            var owner = (string)(await command.ExecuteScalarAsync(Ct))!; // node-1..node-3 are nodes[0..2]
            victim = int.Parse(owner["node-".Length..], System.Globalization.CultureInfo.InvariantCulture) - 1;
        }

        await nodes[victim].KillAsync();
        var survivor = nodes[(victim + 1) % 3];
        var second = await survivor.Client.SubmitAsync(Enumerable.Range(0, 3).Select(n => OnHost("pushback", $"/ok?after={n}")));
        await survivor.Client.WaitUntilDoneAsync(second);

        var starts = _upstream.Arrivals.Where(a => a.PathAndQuery.StartsWith("/ok?after=", StringComparison.Ordinal)).Select(a => a.At).Order().ToList();
        var gaps = starts.Zip(starts.Skip(1), (a, b) => b - a).ToList();
        // Its new owner spaces the requests as the dead one did (3.2 s, less 10 ms per ordinary answer); not at all before.
        Assert.Equal(3, starts.Count);
        Assert.All(gaps, gap => Assert.True(gap > TimeSpan.FromSeconds(1), $"requests {gap.TotalMilliseconds:F0} ms apart"));
    }

    [Fact]
    public async Task CancelOnOneNodeStopsFetchesInFlightOnTheOthers()
    {
        var nodes = await StartClusterAsync();
        var id = await nodes[0].Client.SubmitAsync(Enumerable.Range(0, 30).Select(n => _upstream.Url($"/hang?group=hang&n={n}")),
            new { concurrency = 30, timeoutSeconds = 120 });
        await Api.EventuallyAsync(() => _upstream.InFlight("hang") == 30, "the hanging fetches never all started");

        using var cancel = await nodes[2].Client.PostAsync($"/batches/{id}/cancel", null, Ct);
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);

        await Api.EventuallyAsync(() => _upstream.InFlight("hang") == 0, "fetches were still in flight after the cancel",
            TimeSpan.FromSeconds(10));
        var summary = await nodes[1].Client.GetJsonAsync($"/batches/{id}?results=false");
        Assert.Equal(("cancelled", 30), (summary["status"]!.GetValue<string>(), summary["counts"]!["cancelled"]!.GetValue<int>()));
    }

    [Fact]
    public async Task ABatchsCallbackIsDeliveredOnceNotOncePerNode()
    {
        var nodes = await StartClusterAsync();
        var key = Guid.NewGuid().ToString("N");

        var id = await nodes[1].Client.SubmitAsync(Enumerable.Range(0, 20).Select(n => _upstream.Url($"/ok?cb={n}")),
            callback: new { url = _upstream.Url($"/hook/{key}"), secret = "cluster-secret-123" });
        await nodes[2].Client.WaitUntilDoneAsync(id);
        await Api.EventuallyAsync(() => _upstream.Callbacks.Any(c => c.Key == key), "the callback never came");
        // Every node hears that the batch ended; once the delivery is recorded no node takes it again, so any second
        // delivery would have arrived by then.
        await Api.EventuallyAsync(
            async () => await ScalarAsync($"SELECT count(*) FROM batches WHERE id = '{id}' AND callback_state = 2") == 1,
            "the delivery was not recorded");

        Assert.Single(_upstream.Callbacks, c => c.Key == key);
    }

    [Fact]
    public async Task EventsAndPreferWaitOnOneNodeSeeResultsWrittenByOthers()
    {
        var nodes = await StartClusterAsync();
        var urls = Enumerable.Range(0, 20).Select(n => _upstream.Url($"/delay/20?n={n}")).ToList();
        var id = await nodes[0].Client.SubmitAsync(urls, new { concurrency = 5 });

        using var request = new HttpRequestMessage(HttpMethod.Get, $"/batches/{id}/events");
        using var response = await nodes[2].Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        var results = text.Split('\n').Count(l => l == "event: result");

        Assert.Equal(20, results);
        Assert.Contains("event: done", text, StringComparison.Ordinal);

        using var waited = new HttpRequestMessage(HttpMethod.Post, "/batches")
        {
            Content = JsonContent.Create(new { urls = urls.Take(3) }),
            Headers = { { "Prefer", "wait=30" } },
        };
        using var answer = await nodes[1].Client.SendAsync(waited, Ct);
        var body = JsonNode.Parse(await answer.Content.ReadAsStringAsync(Ct))!;
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.Equal("completed", body["status"]!.GetValue<string>());
    }
}
