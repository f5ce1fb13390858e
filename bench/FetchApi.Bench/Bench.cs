using System.Diagnostics;
using System.Globalization;

namespace FetchApi.Bench;

/// <summary>Command-line options.</summary>
sealed record BenchOptions
{
    public IReadOnlyList<string> Scenarios { get; init; } = [];
    public int Repeat { get; init; } = 3;
    public string? ServiceDirectory { get; init; }
    public string? CountersDirectory { get; init; }
    public string? TraceDirectory { get; init; }
    public string? PerfDirectory { get; init; }
    public bool Threads { get; init; }
    public int ApiConnections { get; init; } = 32;
    public string? MarkdownOutput { get; init; }
    public IReadOnlyDictionary<string, string> ServiceSettings { get; init; } = new Dictionary<string, string>();
    public IReadOnlyDictionary<string, string> VariantSettings { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// One number a scenario measured in one repetition, with its target when it has one. Without a target, a rate
/// (<c>/s</c>) is better higher and anything else lower, unless <paramref name="HigherIsBetter"/> says otherwise.
/// </summary>
sealed record Measurement(string Scenario, string Metric, double Value, string Unit, Target? Target, string Detail, bool? HigherIsBetter = null);

/// <summary>A target from issue 5: met when the value is at most (or at least) the bound.</summary>
sealed record Target(double Bound, bool AtMost)
{
    public bool IsMetBy(double value) => AtMost ? value <= Bound : value >= Bound;

    public override string ToString() => (AtMost ? "≤ " : "≥ ") + Bound.ToString("0.###", CultureInfo.InvariantCulture);
}

/// <summary>The loopback upstreams: one process per latency, started on first use.</summary>
sealed class Upstreams(string benchCommand, IReadOnlyList<string> benchPrefix) : IAsyncDisposable
{
    readonly Dictionary<int, (ChildProcess Process, int Port)> _byLatency = [];

    public IReadOnlyList<ChildProcess> Processes => _byLatency.Values.Select(v => v.Process).ToList();

    public async Task<int> PortAsync(int latencyMs)
    {
        if (_byLatency.TryGetValue(latencyMs, out var existing))
        {
            return existing.Port;
        }

        var port = Service.FreePort();
        var process = ChildProcess.Start($"upstream-{latencyMs}ms", benchCommand,
            [.. benchPrefix, "upstream", "--latency-ms", latencyMs.ToString(CultureInfo.InvariantCulture), "--port", port.ToString(CultureInfo.InvariantCulture)],
            environment: new Dictionary<string, string> { ["DOTNET_gcServer"] = "0" });
        _byLatency[latencyMs] = (process, port);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        await Service.WaitUntilAsync(http, "/r/ready", process, TimeSpan.FromSeconds(30));
        return port;
    }

    /// <summary><paramref name="count"/> distinct URLs on the upstream with <paramref name="latencyMs"/>.</summary>
    public async Task<List<string>> UrlsAsync(int latencyMs, int count, string tag)
    {
        var port = await PortAsync(latencyMs);
        return Enumerable.Range(0, count).Select(i => $"http://127.0.0.1:{port}/r/{tag}-{i}").ToList();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (process, _) in _byLatency.Values)
        {
            await process.DisposeAsync();
        }
    }
}

/// <summary>Runs the scenarios of issue 5 (and the PostgreSQL ones) and prints what they measured.</summary>
sealed partial class Bench(BenchOptions options, string serviceDirectory, string workDirectory, Upstreams upstreams) : IAsyncDisposable
{
    public static readonly string[] AllScenarios =
        ["latency", "throughput", "growth", "fairness", "memory", "api", "sweep", "extract", "hosts", "pg-throughput", "pg-latency", "pg-cluster"];

    readonly List<Measurement> _measurements = [];

    public IReadOnlyList<Measurement> Measurements => _measurements;

    void Record(string scenario, string metric, double value, string unit, Target? target, string detail, bool? higherIsBetter = null)
    {
        scenario += _variantLabel;
        _measurements.Add(new Measurement(scenario, metric, value, unit, target, detail, higherIsBetter));
        var verdict = target is null ? "" : $"  [target {target} {unit}: {(target.IsMetBy(value) ? "met" : "NOT met")}]";
        Console.WriteLine($"  {scenario} {metric} = {value.ToString("0.###", CultureInfo.InvariantCulture)} {unit}{verdict}  {detail}");
    }

    async Task<Service> StartServiceAsync(Dictionary<string, string>? extra = null, string name = "fetchapi")
    {
        var settings = Service.BaseSettings();
        foreach (var (key, value) in extra ?? [])
        {
            settings[key] = value;
        }

        foreach (var (key, value) in options.ServiceSettings.Concat(_variantSettings))
        {
            settings[key] = value;
        }

        return await Service.StartAsync(serviceDirectory, workDirectory, settings, name);
    }

    /// <summary>JIT and connection pools warm: a batch on each upstream the scenario uses.</summary>
    Task WarmUpAsync(Service service, params int[] latencies) => WarmUpAsync([service], latencies);

    /// <summary>
    /// The same for nodes that share one database: each round submits to the next node (the others claim part of the
    /// work), and the JIT threads of all of them must be quiet.
    /// </summary>
    async Task WarmUpAsync(List<Service> nodes, params int[] latencies)
    {
        // Tiered compilation keeps recompiling hot methods for seconds after start (measured: 0.5-1 s of JIT thread CPU in
        // the first run after a single warm-up batch). Warm until the JIT thread is quiet over a whole round.
        for (var round = 0; round < 8; round++)
        {
            var jit0 = nodes.Sum(JitSeconds);
            foreach (var latency in latencies)
            {
                var urls = await upstreams.UrlsAsync(latency, latency == 0 ? 5000 : 2000, $"warmup{round}");
                await nodes[round % nodes.Count].Api.RunAsync(urls, 256);
            }

            var jit = nodes.Sum(JitSeconds) - jit0;
            if (round >= 1 && jit < 0.1)
            {
                Console.WriteLine($"    warmed up in {round + 1} rounds (JIT thread {jit:F2} s in the last one)");
                return;
            }
        }

        Console.WriteLine("    note: the JIT thread was still compiling after 8 warm-up rounds; the first run may be slower");

        static double JitSeconds(Service service) => ProcStats.ThreadCpu(service.Process.Pid)
            .Where(t => t.Key.StartsWith(".NET Tiered", StringComparison.Ordinal)).Sum(t => t.Value);
    }

    Task<Phase> PhaseAsync(Service service, string name) => Phase.BeginAsync(service, upstreams.Processes, options, name);

    /// <summary>One batch through the service inside a measured phase; every slot must come back fetched.</summary>
    async Task<(BatchRun Run, CpuUse Cpu)> MeasuredRunAsync(Service service, string name, IReadOnlyList<string> urls, int concurrency,
        TimeSpan? deadline = null)
    {
        BatchRun run;
        CpuUse cpu;
        await using (var phase = await PhaseAsync(service, name))
        {
            run = await service.Api.RunAsync(urls, concurrency, deadline);
            cpu = phase.End();
        }

        CheckAllFetched(run);
        return (run, cpu);
    }

    static void CheckAllFetched(BatchRun run)
    {
        if (run.Summary.Fetched != run.Summary.Total)
        {
            Console.WriteLine($"    WARNING: batch {run.Id}: {run.Summary.Failed} failed, {run.Summary.Cancelled} cancelled of {run.Summary.Total}");
        }
    }

    public async Task RunAsync(string scenario)
    {
        // --variant KEY=VALUE: the scenario runs once as configured, then once more with the variant's settings on a
        // fresh service, in the same invocation, so that the two are compared on the same machine minutes apart.
        await RunOnceAsync(scenario);
        if (options.VariantSettings.Count > 0)
        {
            _variantSettings = options.VariantSettings;
            _variantLabel = $" [{string.Join(", ", options.VariantSettings.Select(kv => $"{kv.Key}={kv.Value}"))}]";
            try
            {
                await RunOnceAsync(scenario);
            }
            finally
            {
                _variantSettings = new Dictionary<string, string>();
                _variantLabel = "";
            }
        }
    }

    IReadOnlyDictionary<string, string> _variantSettings = new Dictionary<string, string>();
    string _variantLabel = "";

    async Task RunOnceAsync(string scenario)
    {
        Console.WriteLine();
        Console.WriteLine($"== {scenario}{_variantLabel} (load average {Machine.CurrentLoadAverage()}) ==");
        switch (scenario)
        {
            case "latency":
                await LatencyBoundAsync();
                break;
            case "throughput":
                await ThroughputBoundAsync();
                break;
            case "growth":
                await GrowthAsync();
                break;
            case "fairness":
                await FairnessAsync();
                break;
            case "memory":
                await MemoryAsync();
                break;
            case "api":
                await ApiAsync();
                break;
            case "sweep":
                await SweepAsync();
                break;
            case "extract":
                await ExtractAsync();
                break;
            case "hosts":
                await HostsAsync();
                break;
            case "pg-throughput":
                await ProvidersAsync(scenario, 20_000, latency: 0, concurrency: 256, ratioTarget: new Target(0.8, AtMost: false));
                break;
            case "pg-latency":
                await ProvidersAsync(scenario, 5_000, latency: 20, concurrency: 100, ratioTarget: null);
                break;
            case "pg-cluster":
                await ClusterAsync();
                break;
            default:
                throw new BenchException($"unknown scenario {scenario}; one of {string.Join(", ", AllScenarios)} or all");
        }
    }

    /// <summary>
    /// What the upstream itself delivers to wrk at this concurrency (its 20 ms is a Task.Delay, a little more in practice):
    /// the rate no client can beat on this machine, printed beside the ideal.
    /// </summary>
    async Task<string> UpstreamFloorAsync(int latency, int concurrency)
    {
        if (Wrk.Path is null)
        {
            return "";
        }

        var port = await upstreams.PortAsync(latency);
        var wrk = await Wrk.RunAsync(new Uri($"http://127.0.0.1:{port}/r/wrk"), concurrency, 2, TimeSpan.FromSeconds(3));
        return $"; wrk -c{concurrency} on the same route {wrk.RequestsPerSecond:F0}/s, p50 {wrk.P50Ms:F1} ms";
    }

    /// <summary>
    /// A 10-URL batch submitted 1 s into a 10,000-URL batch (both 20 ms) completes within 2 × its time alone. The big
    /// batch takes the whole global limit (100 here, so that it runs for about 2 s and is surely still running at 1 s):
    /// the small one gets slots only if the scheduler shares them fairly.
    /// </summary>
    async Task FairnessAsync()
    {
        const int big = 10_000, bigConcurrency = 100, small = 10, latency = 20;
        await using var service = await StartServiceAsync(new() { ["Engine__GlobalConcurrency"] = bigConcurrency.ToString(CultureInfo.InvariantCulture) });
        await WarmUpAsync(service, 0, latency);
        var fast = TimeSpan.FromMilliseconds(2);
        for (var i = 1; i <= options.Repeat; i++)
        {
            // Alone: the median of five.
            var alone = new List<double>();
            service.Api.PollInterval = fast;
            for (var k = 0; k < 5; k++)
            {
                alone.Add((await service.Api.RunAsync(await upstreams.UrlsAsync(latency, small, $"alone{i}-{k}"), null)).Wall.TotalSeconds);
            }

            alone.Sort();
            var aloneTime = alone[alone.Count / 2];

            BatchRun smallRun;
            CpuUse cpu;
            bool bigStillRunning;
            BatchRun bigRun;
            await using (var phase = await PhaseAsync(service, $"fairness-{i}"))
            {
                var bigStarted = Stopwatch.GetTimestamp();
                var bigId = await service.Api.SubmitAsync(await upstreams.UrlsAsync(latency, big, $"big{i}"), bigConcurrency);
                await Task.Delay(TimeSpan.FromSeconds(1) - Stopwatch.GetElapsedTime(bigStarted));
                var smallUrls = await upstreams.UrlsAsync(latency, small, $"small{i}");
                var before = await service.Api.GetSummaryAsync(bigId);
                bigStillRunning = !before.IsCompleted;
                smallRun = await service.Api.RunAsync(smallUrls, null);
                var during = await service.Api.GetSummaryAsync(bigId);
                bigStillRunning &= !during.IsCompleted;
                service.Api.PollInterval = TimeSpan.FromMilliseconds(10);
                bigRun = await service.Api.WaitAsync(bigId, bigStarted, TimeSpan.FromMinutes(5));
                cpu = phase.End();
            }

            CheckAllFetched(bigRun);
            var with = smallRun.Wall.TotalSeconds;
            Record("fairness", "with ÷ alone", with / aloneTime, "×", new Target(2.0, AtMost: true),
                $"run {i}: 10-URL batch {with * 1000:F0} ms during the 10,000-URL batch vs {aloneTime * 1000:F0} ms alone " +
                $"(alone runs {string.Join("/", alone.Select(a => (a * 1000).ToString("F0", CultureInfo.InvariantCulture)))} ms; ideal 20 ms); " +
                $"big batch {(bigStillRunning ? "still running throughout" : "HAD FINISHED: not a valid measurement")}, " +
                $"wall {bigRun.Wall.TotalSeconds:F2} s ({big / bigRun.Wall.TotalSeconds:F0} fetches/s, concurrency {bigConcurrency} = the global limit); {cpu}");
        }
    }

    /// <summary>Peak RSS for one 10,000-URL batch, and for ten concurrent ones, each on a fresh process; target ≤ 300 MB.</summary>
    async Task MemoryAsync()
    {
        const int count = 10_000, concurrency = 100, latency = 20;
        await upstreams.PortAsync(latency);
        for (var i = 1; i <= options.Repeat; i++)
        {
            foreach (var batches in new[] { 1, 10 })
            {
                await using var service = await StartServiceAsync();
                var idle = service.Process.PeakRssMiB;
                var lists = new List<List<string>>();
                for (var b = 0; b < batches; b++)
                {
                    lists.Add(await upstreams.UrlsAsync(latency, count, $"mem{i}-{batches}-{b}"));
                }

                List<BatchRun> runs;
                CpuUse cpu;
                var started = Stopwatch.GetTimestamp();
                await using (var phase = await PhaseAsync(service, $"memory{batches}-{i}"))
                {
                    runs = [.. await Task.WhenAll(lists.Select(urls => service.Api.RunAsync(urls, concurrency)))];
                    cpu = phase.End();
                }

                runs.ForEach(CheckAllFetched);
                var wall = Stopwatch.GetElapsedTime(started).TotalSeconds;
                var peakMb = service.Process.PeakRssMiB * 1024 * 1024 / 1e6;
                var ideal = (double)batches * count / Math.Min(256, batches * concurrency) * latency / 1000;
                Record("memory", $"peak RSS, {batches} × 10,000", peakMb, "MB", new Target(300, AtMost: true),
                    $"run {i}: VmHWM {service.Process.PeakRssMiB:F0} MiB (idle service {idle:F0} MiB), {batches} batch(es) of {count} at concurrency " +
                    $"{concurrency}, 20 ms: wall {wall:F2} s (ideal {ideal:F2} s), {batches * count / wall:F0} fetches/s; {cpu}");
            }
        }
    }

    /// <summary><c>GET /batches/{id}?results=false</c> on a running batch: ≥ 5,000 requests/s with p99 under 20 ms.</summary>
    async Task ApiAsync()
    {
        const int latency = 20;
        await using var service = await StartServiceAsync();
        await WarmUpAsync(service, latency);
        var connections = options.ApiConnections;
        {
            var warm = await service.Api.SubmitAsync(await upstreams.UrlsAsync(latency, 2000, "apiwarm"), 10);
            await HammerAsync(service.Http, new Uri($"/batches/{warm}?results=false", UriKind.Relative), connections, TimeSpan.FromSeconds(3));
            using var cancelWarm = await service.Http.PostAsync(new Uri($"/batches/{warm}/cancel", UriKind.Relative), null);
        }

        for (var i = 1; i <= options.Repeat; i++)
        {
            // 10,000 URLs at concurrency 10 and 20 ms: about 20 s of work, longer than both measurements.
            var urls = await upstreams.UrlsAsync(latency, 10_000, $"api{i}");
            var id = await service.Api.SubmitAsync(urls, 10);
            var path = new Uri(service.Address, $"/batches/{id}?results=false");
            await service.Api.GetSummaryAsync(id);

            if (Wrk.Path is not null)
            {
                WrkResult wrk;
                CpuUse cpu;
                await using (var phase = await PhaseAsync(service, $"api-wrk-{i}"))
                {
                    wrk = await Wrk.RunAsync(path, connections, 2, TimeSpan.FromSeconds(5));
                    cpu = phase.End();
                }

                var detail = $"run {i}: wrk -c{connections} -t2 -d5s --latency: {wrk.RequestsPerSecond:F0} requests/s, p50 {wrk.P50Ms:F2} ms, " +
                             $"p99 {wrk.P99Ms:F2} ms {wrk.Errors}; {cpu}";
                Record("api (wrk)", "requests/s", wrk.RequestsPerSecond, "/s", new Target(5000, AtMost: false), detail);
                Record("api (wrk)", "p99", wrk.P99Ms, "ms", new Target(20, AtMost: true), detail);
            }

            {
                (double Rps, double P50, double P99, int Errors) own;
                CpuUse cpu;
                await using (var phase = await PhaseAsync(service, $"api-client-{i}"))
                {
                    own = await HammerAsync(service.Http, new Uri($"/batches/{id}?results=false", UriKind.Relative), connections, TimeSpan.FromSeconds(5));
                    cpu = phase.End();
                }

                var detail = $"run {i}: the bench's HttpClient, {connections} concurrent requests for 5 s: {own.Rps:F0} requests/s, " +
                             $"p50 {own.P50:F2} ms, p99 {own.P99:F2} ms, {own.Errors} errors; {cpu}";
                Record("api (HttpClient)", "requests/s", own.Rps, "/s", new Target(5000, AtMost: false), detail);
                Record("api (HttpClient)", "p99", own.P99, "ms", new Target(20, AtMost: true), detail);
            }

            var after = await service.Api.GetSummaryAsync(id);
            if (after.IsCompleted)
            {
                Console.WriteLine("    WARNING: the batch completed during the measurement; it was not running throughout");
            }

            using var cancel = await service.Http.PostAsync(new Uri($"/batches/{id}/cancel", UriKind.Relative), null);
        }
    }

    /// <summary><paramref name="workers"/> loops of GET for <paramref name="duration"/>: requests/s, p50, p99 (ms), errors.</summary>
    static async Task<(double Rps, double P50, double P99, int Errors)> HammerAsync(HttpClient http, Uri path, int workers, TimeSpan duration)
    {
        var stop = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var started = Stopwatch.GetTimestamp();
        var errors = 0;
        var perWorker = await Task.WhenAll(Enumerable.Range(0, workers).Select(async _ =>
        {
            var latencies = new List<double>(50_000);
            var buffer = new byte[64 * 1024];
            while (Stopwatch.GetTimestamp() < stop)
            {
                var t0 = Stopwatch.GetTimestamp();
                using var response = await http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
                await using var body = await response.Content.ReadAsStreamAsync();
                while (await body.ReadAsync(buffer) > 0)
                {
                }

                latencies.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                if (!response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref errors);
                }
            }

            return latencies;
        }));
        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var all = perWorker.SelectMany(l => l).Order().ToArray();
        return (all.Length / elapsed, all[all.Length / 2], all[(int)Math.Min(all.Length - 1, Math.Ceiling(all.Length * 0.99) - 1)], errors);
    }

    public static readonly int[] SweepConcurrency = [10, 50, 100, 250, 500];

    /// <summary>Fetches/s against concurrency (50 rounds of 20 ms each: ideal 1.0 s per point), for the chart.</summary>
    async Task SweepAsync()
    {
        const int latency = 20, rounds = 50;
        var most = SweepConcurrency.Max();
        await using var service = await StartServiceAsync(new()
        {
            ["Engine__GlobalConcurrency"] = most.ToString(CultureInfo.InvariantCulture),
            ["Batches__MaxConcurrency"] = most.ToString(CultureInfo.InvariantCulture),
            ["Batches__MaxUrlsPerBatch"] = (most * rounds).ToString(CultureInfo.InvariantCulture),
        });
        await WarmUpAsync(service, 0, latency);
        for (var i = 1; i <= options.Repeat; i++)
        {
            foreach (var concurrency in SweepConcurrency)
            {
                var count = concurrency * rounds;
                var floor = await UpstreamFloorAsync(latency, concurrency);
                var urls = await upstreams.UrlsAsync(latency, count, $"sweep{i}-{concurrency}");
                var (run, cpu) = await MeasuredRunAsync(service, $"sweep{concurrency}-{i}", urls, concurrency);
                var rate = count / run.Wall.TotalSeconds;
                var ideal = concurrency * 1000.0 / latency;
                Record("sweep", $"c={concurrency} fetches/s", rate, "/s", null,
                    $"run {i}: {count} URLs, wall {run.Wall.TotalSeconds:F3} s (POST {run.Post?.TotalMilliseconds:F0} ms), ideal {ideal:F0}/s, ratio {rate / ideal:F2}{floor}; {cpu}");
            }
        }
    }
}
