using System.Globalization;

namespace FetchApi.Bench;

/// <summary>One measured batch: the run, CPU use, and for PostgreSQL the server's CPU and what the service did in the database.</summary>
sealed record Measured(BatchRun Run, CpuUse Cpu, IReadOnlyList<double> NodeCpu, double? DatabaseCpu, DatabaseUse? Database)
{
    public double Rate => Run.Summary.Total / Run.Wall.TotalSeconds;
}

/// <summary>The PostgreSQL scenarios: one node on PostgreSQL against one on SQLite, and three nodes against one.</summary>
sealed partial class Bench
{
    PostgresServer? _postgres;
    int _databases;

    /// <summary>The bench's PostgreSQL server, started on first use; null (and the scenario skipped) when PostgreSQL is not installed.</summary>
    async Task<PostgresServer?> PostgresAsync()
    {
        if (_postgres is null)
        {
            if (PostgresServer.FindBinaries() is null)
            {
                Console.WriteLine("  skipped: PostgreSQL is not installed (apt-get install -y postgresql)");
                return null;
            }

            _postgres = await PostgresServer.StartAsync();
        }

        return _postgres;
    }

    /// <summary>A fresh database for one service (or one cluster), and the settings that point a node at it.</summary>
    async Task<(string Database, Dictionary<string, string> Settings)> PostgresDatabaseAsync(PostgresServer postgres, string tag,
        Dictionary<string, string> extra)
    {
        var database = $"bench_{++_databases}_{tag.Replace('-', '_')}";
        var connectionString = await postgres.CreateDatabaseAsync(database);
        return (database, new Dictionary<string, string>(extra)
        {
            ["Storage__Provider"] = "Postgres",
            ["Storage__ConnectionString"] = connectionString,
        });
    }

    static Dictionary<string, string> Node(Dictionary<string, string> settings, string nodeId) =>
        new(settings) { ["Engine__NodeId"] = nodeId };

    /// <summary>
    /// One batch submitted to (and polled on) <c>nodes[0]</c>. Every measured run starts after the same pause of
    /// <see cref="PostgresServer.StatisticsSettle"/>, SQLite runs included: PostgreSQL's idle backends have sent their
    /// statistics by then, and both providers start on an equally quiet machine. Statements (pg_stat_statements, exact at
    /// once) are counted from just before the POST to the poll that sees the batch completed; committed transactions
    /// (pg_stat_database) from then to one more pause after it, so they include about 11 s of an idle node's claims.
    /// </summary>
    async Task<Measured> MeasureAsync(List<Service> nodes, PostgresServer? postgres, string? database, List<string> urls, int concurrency,
        string name)
    {
        await Task.Delay(PostgresServer.StatisticsSettle);
        var counted = postgres is not null && database is not null;
        long transactions0 = 0;
        if (counted)
        {
            transactions0 = await postgres!.CommittedTransactionsAsync(database!);
            await postgres.ResetStatementsAsync(database!);
        }

        var nodeCpu0 = nodes.Select(n => n.Process.CpuSeconds).ToList();
        var databaseCpu0 = postgres?.CpuSeconds;
        BatchRun run;
        CpuUse cpu;
        List<double> nodeCpu;
        double? databaseCpu;
        await using (var phase = await PhaseAsync(nodes[0], name))
        {
            run = await nodes[0].Api.RunAsync(urls, concurrency);
            cpu = phase.End();
            nodeCpu = nodes.Select((n, k) => n.Process.CpuSeconds - nodeCpu0[k]).ToList();
            databaseCpu = postgres?.CpuSeconds - databaseCpu0;
        }

        CheckAllFetched(run);
        DatabaseUse? use = null;
        if (counted)
        {
            var (statements, top) = postgres!.HasStatements ? await postgres.StatementsAsync(database!, 10) : (0, []);
            var connections = await postgres.ConnectionsAsync(database!);
            await Task.Delay(PostgresServer.StatisticsSettle);
            use = new DatabaseUse(await postgres.CommittedTransactionsAsync(database!) - transactions0, postgres.HasStatements ? statements : null, top);
            Console.WriteLine($"    {name}: {use.Describe(urls.Count)}, {run.Polls} polls of the summary, {connections} connections open to the database");
            foreach (var (calls, query) in top)
            {
                Console.WriteLine($"      {calls,7} × {query}");
            }
        }

        return new Measured(run, cpu, nodeCpu, databaseCpu, use);
    }

    /// <summary>
    /// One node on SQLite and one on PostgreSQL (each its own fresh process; PostgreSQL on a fresh database), both warmed
    /// up, then per repetition the same workload on SQLite and then on PostgreSQL: fetches/s of each, the ratio, and the
    /// database's transactions and statements per fetched URL.
    /// </summary>
    async Task ProvidersAsync(string scenario, int count, int latency, int concurrency, Target? ratioTarget)
    {
        if (await PostgresAsync() is not { } postgres)
        {
            return;
        }

        var extra = new Dictionary<string, string> { ["Batches__MaxUrlsPerBatch"] = count.ToString(CultureInfo.InvariantCulture) };
        await using var sqlite = await StartServiceAsync(extra, "fetchapi-sqlite");
        var (database, settings) = await PostgresDatabaseAsync(postgres, scenario, extra);
        await using var pg = await StartServiceAsync(Node(settings, "node-1"), "fetchapi-postgres");
        int[] warmLatencies = latency == 0 ? [0] : [0, latency];
        Console.WriteLine("    SQLite node:");
        await WarmUpAsync(sqlite, warmLatencies);
        Console.WriteLine("    PostgreSQL node:");
        await WarmUpAsync(pg, warmLatencies);
        var ideal = latency > 0 ? (double)count / concurrency * latency / 1000 : (double?)null;
        var port = await upstreams.PortAsync(latency);
        var inv = CultureInfo.InvariantCulture;
        for (var i = 1; i <= options.Repeat; i++)
        {
            WrkResult? wrk = null;
            if (Wrk.Path is not null)
            {
                wrk = await Wrk.RunAsync(new Uri($"http://127.0.0.1:{port}/r/wrk"), concurrency, 2, TimeSpan.FromSeconds(5));
                Console.WriteLine($"    wrk -c{concurrency} -t2 -d5s on the upstream: {wrk.RequestsPerSecond:F0} requests/s, p99 {wrk.P99Ms:F1} ms {wrk.Errors}");
            }

            var onSqlite = await MeasureAsync([sqlite], null, null, await upstreams.UrlsAsync(latency, count, $"{scenario}-s{i}"), concurrency,
                $"{scenario}-sqlite-{i}");
            var onPostgres = await MeasureAsync([pg], postgres, database, await upstreams.UrlsAsync(latency, count, $"{scenario}-p{i}"), concurrency,
                $"{scenario}-postgres-{i}");

            string Describe(string provider, Measured m) =>
                $"{provider}: wall {m.Run.Wall.TotalSeconds:F3} s (POST {m.Run.Post?.TotalMilliseconds:F0} ms), {m.Rate:F0} fetches/s" +
                (ideal is { } id ? $" ({m.Run.Wall.TotalSeconds / id:F3} × ideal {id:F1} s)" : "") +
                (wrk is null ? "" : $", {m.Rate / wrk.RequestsPerSecond:F3} × wrk") +
                $", peak RSS {(provider == "SQLite" ? sqlite : pg).Process.PeakRssMiB:F0} MiB; {m.Cpu}" +
                (m.DatabaseCpu is { } db ? $", PostgreSQL server {db:F2} s" : "");
            var detail = $"run {i}: {Describe("SQLite", onSqlite)} | {Describe("PostgreSQL", onPostgres)}" +
                         (wrk is null ? "" : $" | wrk {wrk.RequestsPerSecond:F0}/s");
            Record(scenario, "fetches/s, SQLite", onSqlite.Rate, "/s", null, detail);
            Record(scenario, "fetches/s, PostgreSQL", onPostgres.Rate, "/s", null, detail);
            Record(scenario, "PostgreSQL ÷ SQLite (fetches/s)", onPostgres.Rate / onSqlite.Rate, "×", ratioTarget,
                string.Create(inv, $"run {i}: {onPostgres.Rate:F0} ÷ {onSqlite.Rate:F0} fetches/s"), higherIsBetter: true);
            RecordDatabaseUse(scenario, "", i, count, onPostgres);
        }
    }

    /// <summary>Transactions (a lower bound of round trips) and statements (an upper bound) per fetched URL: target ≤ 0.2.</summary>
    void RecordDatabaseUse(string scenario, string suffix, int run, int count, Measured m)
    {
        if (m.Database is not { } use)
        {
            return;
        }

        var detail = $"run {run}: {use.Describe(count)}; PostgreSQL server CPU {m.DatabaseCpu:F2} s for {count} URLs";
        Record(scenario, $"transactions per fetched URL{suffix}", use.TransactionsPer(count), "", new Target(0.2, AtMost: true), detail);
        if (use.StatementsPer(count) is { } statements)
        {
            Record(scenario, $"statements per fetched URL{suffix}", statements, "", new Target(0.2, AtMost: true), detail);
        }
    }

    /// <summary>
    /// Three nodes on one PostgreSQL database (Engine__NodeId node-1..3) against one node on its own database, same
    /// server, same run: the throughput-bound batch (20,000 URLs, 0 ms, concurrency 256) submitted to node 1 and polled
    /// there, the other nodes claiming their share. Fetches/s of each, the ratio, the CPU seconds of every node.
    /// </summary>
    async Task ClusterAsync()
    {
        const string scenario = "pg-cluster";
        const int count = 20_000, concurrency = 256, latency = 0, size = 3;
        if (await PostgresAsync() is not { } postgres)
        {
            return;
        }

        var extra = new Dictionary<string, string> { ["Batches__MaxUrlsPerBatch"] = count.ToString(CultureInfo.InvariantCulture) };
        var (singleDatabase, singleSettings) = await PostgresDatabaseAsync(postgres, "single", extra);
        await using var single = await StartServiceAsync(Node(singleSettings, "single-1"), "fetchapi-single");
        var (clusterDatabase, clusterSettings) = await PostgresDatabaseAsync(postgres, "cluster", extra);
        var cluster = new List<Service>();
        try
        {
            for (var k = 1; k <= size; k++)
            {
                cluster.Add(await StartServiceAsync(Node(clusterSettings, $"node-{k}"), $"fetchapi-node-{k}"));
            }

            Console.WriteLine("    one node:");
            await WarmUpAsync(single, latency);
            Console.WriteLine($"    {size} nodes:");
            await WarmUpAsync(cluster, latency);
            var port = await upstreams.PortAsync(latency);
            for (var i = 1; i <= options.Repeat; i++)
            {
                WrkResult? wrk = null;
                if (Wrk.Path is not null)
                {
                    wrk = await Wrk.RunAsync(new Uri($"http://127.0.0.1:{port}/r/wrk"), concurrency, 2, TimeSpan.FromSeconds(5));
                    Console.WriteLine($"    wrk -c{concurrency} -t2 -d5s on the upstream: {wrk.RequestsPerSecond:F0} requests/s, p99 {wrk.P99Ms:F1} ms {wrk.Errors}");
                }

                var one = await MeasureAsync([single], postgres, singleDatabase, await upstreams.UrlsAsync(latency, count, $"c1-{i}"), concurrency,
                    $"{scenario}-1node-{i}");
                var three = await MeasureAsync(cluster, postgres, clusterDatabase, await upstreams.UrlsAsync(latency, count, $"c3-{i}"), concurrency,
                    $"{scenario}-{size}nodes-{i}");
                var detail = $"run {i}: 1 node {one.Rate:F0} fetches/s, wall {one.Run.Wall.TotalSeconds:F3} s, CPU node {one.NodeCpu[0]:F2} s, " +
                             $"PostgreSQL {one.DatabaseCpu:F2} s | {size} nodes {three.Rate:F0} fetches/s, wall {three.Run.Wall.TotalSeconds:F3} s " +
                             $"(POST {three.Run.Post?.TotalMilliseconds:F0} ms), CPU " +
                             string.Join(", ", three.NodeCpu.Select((c, k) => $"node-{k + 1} {c:F2} s")) +
                             $" (sum {three.NodeCpu.Sum():F2} s), PostgreSQL {three.DatabaseCpu:F2} s, peak RSS " +
                             string.Join("/", cluster.Select(n => n.Process.PeakRssMiB.ToString("F0", CultureInfo.InvariantCulture))) + " MiB; " +
                             $"{three.Cpu}" + (wrk is null ? "" : $" | wrk {wrk.RequestsPerSecond:F0}/s: 1 node {one.Rate / wrk.RequestsPerSecond:F3} ×, " +
                                                                  $"{size} nodes {three.Rate / wrk.RequestsPerSecond:F3} ×");
                Record(scenario, "fetches/s, 1 node", one.Rate, "/s", null, detail);
                Record(scenario, $"fetches/s, {size} nodes", three.Rate, "/s", null, detail);
                Record(scenario, $"{size} nodes ÷ 1 node (fetches/s)", three.Rate / one.Rate, "×", null, detail, higherIsBetter: true);
                for (var k = 0; k < size; k++)
                {
                    Record(scenario, $"CPU s, node-{k + 1}", three.NodeCpu[k], "s", null, detail);
                }

                Record(scenario, "CPU s, PostgreSQL server (3 nodes)", three.DatabaseCpu ?? 0, "s", null, detail);
                RecordDatabaseUse(scenario, ", 1 node", i, count, one);
                RecordDatabaseUse(scenario, $", {size} nodes", i, count, three);
            }
        }
        finally
        {
            foreach (var node in cluster)
            {
                await node.DisposeAsync();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }
}
