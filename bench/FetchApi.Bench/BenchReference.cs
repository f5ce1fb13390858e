using System.Globalization;

namespace FetchApi.Bench;

/// <summary>
/// The scenarios of issue 16 beside issue 5's: the service against reference clients that fetch the same route at the
/// same concurrency in the same run (hey: a Go client with a connection pool; wrk: the machine's raw HTTP rate), and a
/// 100,000-URL batch against a 10,000-URL one.
/// </summary>
sealed partial class Bench
{
    /// <summary>What hey did on one route, and what the upstream spent serving it.</summary>
    sealed record HeyRun(HeyResult Result, double UpstreamCpuSeconds)
    {
        public double UpstreamMicrosPerRequest => UpstreamCpuSeconds * 1e6 / Math.Max(1, Result.Requests);

        public override string ToString() =>
            $"hey -n{Result.Requests} on the same route: wall {Result.WallSeconds:F3} s, {Result.RequestsPerSecond:F0}/s, {Result.Ok} × 200, " +
            $"CPU hey {Result.CpuMicrosPerRequest:F1} µs/request, upstream {UpstreamMicrosPerRequest:F1} µs/request" +
            (Result.Errors.Length > 0 ? $", errors: {Result.Errors}" : "");
    }

    /// <summary>hey with <paramref name="requests"/> GETs at <paramref name="concurrency"/> on the upstream of <paramref name="latency"/>; null without hey.</summary>
    async Task<HeyRun?> HeyAsync(int latency, int requests, int concurrency)
    {
        if (Hey.Path is null)
        {
            return null;
        }

        var port = await upstreams.PortAsync(latency);
        var upstream0 = upstreams.Processes.Sum(p => p.CpuSeconds);
        var result = await Hey.RunAsync(new Uri($"http://127.0.0.1:{port}/r/hey"), requests, concurrency);
        var run = new HeyRun(result, upstreams.Processes.Sum(p => p.CpuSeconds) - upstream0);
        Console.WriteLine($"    {run}");
        return run;
    }

    /// <summary>The CPU-per-URL figures of one service run, and its ratio to hey's CPU per request on the same route.</summary>
    void RecordCpu(string scenario, int count, CpuUse cpu, HeyRun? hey, string detail)
    {
        var service = cpu.Service * 1e6 / count;
        Record(scenario, "service CPU per URL", service, "µs", null, detail);
        Record(scenario, "upstream CPU per URL (service run)", cpu.Upstream * 1e6 / count, "µs", null, detail);
        if (hey is not null)
        {
            Record(scenario, "service CPU per URL ÷ hey CPU per request", service / hey.Result.CpuMicrosPerRequest, "×", new Target(1.0, AtMost: true),
                detail + $"; {hey}");
            Record(scenario, "hey CPU per request", hey.Result.CpuMicrosPerRequest, "µs", null, hey.ToString());
            Record(scenario, "upstream CPU per request (hey run)", hey.UpstreamMicrosPerRequest, "µs", null, hey.ToString());
        }
    }

    /// <summary>
    /// 5,000 URLs, 20 ms latency, concurrency 100: ideal 5,000 / 100 × 20 ms = 1.0 s; targets wall ≤ 1.10 × ideal (issue 5)
    /// and ≤ 1.0 × hey's wall for 5,000 requests at concurrency 100 on the same route (issue 16).
    /// </summary>
    async Task LatencyBoundAsync()
    {
        const int count = 5000, concurrency = 100, latency = 20;
        var ideal = (double)count / concurrency * latency / 1000;
        await using var service = await StartServiceAsync();
        await WarmUpAsync(service, 0, latency);
        for (var i = 1; i <= options.Repeat; i++)
        {
            var floor = await UpstreamFloorAsync(latency, concurrency);
            var hey = await HeyAsync(latency, count, concurrency);
            var urls = await upstreams.UrlsAsync(latency, count, $"lat{i}");
            var (run, cpu) = await MeasuredRunAsync(service, $"latency-{i}", urls, concurrency);
            var wall = run.Wall.TotalSeconds;
            var detail = $"run {i}: wall {wall:F3} s (POST {run.Post?.TotalMilliseconds:F0} ms; server {run.Summary.ServerTime?.TotalSeconds:F3} s), ideal {ideal:F3} s, " +
                         $"{count / wall:F0} fetches/s (ideal {count / ideal:F0}{floor}), peak RSS {service.Process.PeakRssMiB:F0} MiB; {cpu}";
            Record("latency", "wall/ideal", wall / ideal, "×", new Target(1.10, AtMost: true), detail);
            if (hey is not null)
            {
                Record("latency", "wall ÷ hey wall (c=100)", wall / hey.Result.WallSeconds, "×", new Target(1.0, AtMost: true), detail + $"; {hey}");
            }

            RecordCpu("latency", count, cpu, hey, detail);
        }
    }

    /// <summary>
    /// 20,000 URLs, 0 ms latency, concurrency 256: fetches/s ≥ 0.4 × wrk's rate (c=256) on the same route, and the
    /// service's CPU per URL against hey's per request (20,000 requests at concurrency 256).
    /// </summary>
    async Task ThroughputBoundAsync()
    {
        const int count = 20_000, concurrency = 256, latency = 0;
        await using var service = await StartServiceAsync(new() { ["Batches__MaxUrlsPerBatch"] = count.ToString(CultureInfo.InvariantCulture) });
        await WarmUpAsync(service, latency);
        var port = await upstreams.PortAsync(latency);
        for (var i = 1; i <= options.Repeat; i++)
        {
            WrkResult? wrk = null;
            if (Wrk.Path is not null)
            {
                wrk = await Wrk.RunAsync(new Uri($"http://127.0.0.1:{port}/r/wrk"), concurrency, 2, TimeSpan.FromSeconds(5));
                Console.WriteLine($"    wrk -c256 -t2 -d5s on the upstream: {wrk.RequestsPerSecond:F0} requests/s, p99 {wrk.P99Ms:F1} ms {wrk.Errors}");
            }

            var hey = await HeyAsync(latency, count, concurrency);
            var urls = await upstreams.UrlsAsync(latency, count, $"tp{i}");
            var (run, cpu) = await MeasuredRunAsync(service, $"throughput-{i}", urls, concurrency);
            var rate = count / run.Wall.TotalSeconds;
            var detail = $"run {i}: wall {run.Wall.TotalSeconds:F3} s (POST {run.Post?.TotalMilliseconds:F0} ms), {rate:F0} fetches/s, {run.Summary.Fetched} of {count} fetched and persisted, " +
                         $"peak RSS {service.Process.PeakRssMiB:F0} MiB; {cpu}";
            if (wrk is not null)
            {
                Record("throughput", "fetches/s ÷ wrk c=256", rate / wrk.RequestsPerSecond, "×", new Target(0.4, AtMost: false),
                    detail + $"; wrk {wrk.RequestsPerSecond:F0}/s");
            }

            if (hey is not null)
            {
                Record("throughput", "fetches/s ÷ hey c=256", rate / hey.Result.RequestsPerSecond, "×", null, detail + $"; {hey}", higherIsBetter: true);
            }

            Record("throughput", "fetches/s", rate, "/s", null, detail);
            RecordCpu("throughput", count, cpu, hey, detail);
        }
    }

    /// <summary>
    /// A 100,000-URL batch against a 10,000-URL one on the same service (0 ms, concurrency 256, the limit raised to
    /// 100,000 by configuration): time per URL ≤ 1.1 × and peak RSS ≤ 300 MB.
    /// </summary>
    async Task GrowthAsync()
    {
        const int small = 10_000, large = 100_000, concurrency = 256, latency = 0;
        await using var service = await StartServiceAsync(new() { ["Batches__MaxUrlsPerBatch"] = large.ToString(CultureInfo.InvariantCulture) });
        await WarmUpAsync(service, latency);
        for (var i = 1; i <= options.Repeat; i++)
        {
            var perUrl = new Dictionary<int, double>();
            var details = new List<string>();
            foreach (var count in new[] { small, large })
            {
                var urls = await upstreams.UrlsAsync(latency, count, $"growth{i}-{count}");
                var (run, cpu) = await MeasuredRunAsync(service, $"growth{count}-{i}", urls, concurrency, TimeSpan.FromMinutes(10));
                perUrl[count] = run.Wall.TotalSeconds * 1e6 / count;
                details.Add($"{count:N0} URLs: wall {run.Wall.TotalSeconds:F2} s (POST {run.Post?.TotalMilliseconds:F0} ms), {perUrl[count]:F1} µs/URL, " +
                            $"service CPU {cpu.Service * 1e6 / count:F1} µs/URL; {cpu}");
            }

            var detail = $"run {i}: {string.Join("; ", details)}; peak RSS {service.Process.PeakRssMiB:F0} MiB";
            Record("growth", "time per URL, 100,000 ÷ 10,000", perUrl[large] / perUrl[small], "×", new Target(1.1, AtMost: true), detail);
            Record("growth", "peak RSS (after 100,000)", service.Process.PeakRssMiB * 1024 * 1024 / 1e6, "MB", new Target(300, AtMost: true), detail);
            Record("growth", "time per URL, 100,000", perUrl[large], "µs", null, detail);
        }
    }
}
