using System.Globalization;

namespace FetchApi.Bench;

/// <summary>
/// The extract scenario (issue 13): 200 KB HTML pages fetched with <c>options.extract</c> on, against the same batch
/// without it, in the same run on the same service.
/// </summary>
sealed partial class Bench
{
    static readonly string[] ExtractEverything = ["title", "description", "links", "text"];

    /// <summary>What one batch of the extract scenario measured.</summary>
    sealed record ExtractRun(BatchRun Batch, CpuUse Cpu, double StageThreadSeconds, double MaxQueued, double MaxBusy, double PagesOnStage,
        double PagesElsewhere, double ExtractSeconds, double PeakRssMiB)
    {
        public double Rate(int count) => count / Batch.Wall.TotalSeconds;

        /// <summary>
        /// The service's CPU seconds on every thread but the stage's (fetching, writing, polls, GC): from the process
        /// total, which keeps the time of threads that ended (a sum over live threads would lose it).
        /// </summary>
        public double OutsideStageSeconds => Cpu.Service - StageThreadSeconds;
    }

    /// <summary>
    /// 1,000 pages of 200 KB, each batch with and without extraction, alternating which goes first, at three paces:
    /// network-bound like a crawl of real sites (200 ms per page, concurrency 20: ideal 100 pages/s; target: fetches/s
    /// with extraction ≥ 0.7 × without), twice that (100 ms: where two cores of extraction become the limit), and
    /// CPU-bound (0 ms, concurrency 64: the stage's cost when the CPU is all there is). The CPU stage's metrics
    /// (/metrics) and the service's CPU time per thread name (/proc) show where the extraction ran.
    /// </summary>
    async Task ExtractAsync()
    {
        const int count = 1000;
        await using var service = await StartServiceAsync(new() { ["Telemetry__Prometheus"] = "true" });
        Console.WriteLine($"    page: {BenchPage.Bytes.Length:N0} bytes of HTML; service CPU stage: {Environment.ProcessorCount} workers (Engine:CpuWorkers 0)");
        foreach (var (latency, concurrency, target) in new[] { (200, 20, true), (100, 20, false), (0, 64, false) })
        {
            // Warm-up: the JIT compiles the parser and the fetch path before anything is measured.
            for (var round = 0; round < 3; round++)
            {
                await service.Api.RunAsync(await HtmlUrlsAsync(latency, 300, $"xwarm{latency}-{round}"), concurrency, extract: ExtractEverything);
                await service.Api.RunAsync(await HtmlUrlsAsync(latency, 300, $"pwarm{latency}-{round}"), concurrency);
            }

            var scenario = $"extract ({latency} ms, c={concurrency})";
            for (var i = 1; i <= options.Repeat; i++)
            {
                ExtractRun without, with;
                if (i % 2 == 1)
                {
                    without = await ExtractRunAsync(service, await HtmlUrlsAsync(latency, count, $"plain{latency}-{i}"), concurrency, null);
                    with = await ExtractRunAsync(service, await HtmlUrlsAsync(latency, count, $"extract{latency}-{i}"), concurrency, ExtractEverything);
                }
                else
                {
                    with = await ExtractRunAsync(service, await HtmlUrlsAsync(latency, count, $"extract{latency}-{i}"), concurrency, ExtractEverything);
                    without = await ExtractRunAsync(service, await HtmlUrlsAsync(latency, count, $"plain{latency}-{i}"), concurrency, null);
                }

                var ratio = with.Rate(count) / without.Rate(count);
                var detail =
                    $"run {i}: {count} pages, latency {latency} ms, concurrency {concurrency}; without extract {without.Rate(count):F0} pages/s " +
                    $"(wall {without.Batch.Wall.TotalSeconds:F2} s; {without.Cpu}), " +
                    $"with {with.Rate(count):F0} pages/s (wall {with.Batch.Wall.TotalSeconds:F2} s; {with.Cpu}; of it the CPU stage's threads " +
                    $"{with.StageThreadSeconds:F2} s, the rest {with.OutsideStageSeconds:F2} s); stage: {with.PagesOnStage:F0} pages read on its threads, " +
                    $"{with.PagesElsewhere:F0} elsewhere, {with.ExtractSeconds * 1000 / Math.Max(1, with.PagesOnStage):F1} ms per page, " +
                    $"queue ≤ {with.MaxQueued:F0}, busy workers ≤ {with.MaxBusy:F0}; peak RSS {with.PeakRssMiB:F0} MiB";
                Record(scenario, "fetches/s with ÷ without extract", ratio, "×", target ? new Target(0.7, AtMost: false) : null, detail, higherIsBetter: true);
                Record(scenario, "pages/s without extract", without.Rate(count), "/s", null, detail);
                Record(scenario, "pages/s with extract", with.Rate(count), "/s", null, detail);
                Record(scenario, "CPU stage time per page", with.ExtractSeconds * 1000 / Math.Max(1, with.PagesOnStage), "ms", null, detail);
                Record(scenario, "pages read off the CPU stage's threads", with.PagesElsewhere, "pages", new Target(0, AtMost: true), detail);
                Record(scenario, "CPU per page on the stage's threads", with.StageThreadSeconds * 1000 / count, "ms", null, detail);
                Record(scenario, "CPU per page elsewhere, without extract", without.OutsideStageSeconds * 1000 / count, "ms", null, detail);
                Record(scenario, "CPU per page elsewhere, with extract", with.OutsideStageSeconds * 1000 / count, "ms", null, detail);
                Record(scenario, "peak RSS (VmHWM)", with.PeakRssMiB * 1024 * 1024 / 1e6, "MB", null, detail);
            }
        }
    }

    async Task<List<string>> HtmlUrlsAsync(int latencyMs, int count, string tag)
    {
        var port = await upstreams.PortAsync(latencyMs);
        return [.. Enumerable.Range(0, count).Select(i => $"http://127.0.0.1:{port}/html/{tag}-{i}")];
    }

    /// <summary>
    /// One batch; while it runs, /metrics is read every 50 ms for the stage's queue and busy workers. The exporter
    /// caches a scrape for 300 ms: the counters are read after a pause longer than that, before and after the batch.
    /// </summary>
    async Task<ExtractRun> ExtractRunAsync(Service service, List<string> urls, int concurrency, string[]? extract)
    {
        var scrapeCache = TimeSpan.FromMilliseconds(500);
        await Task.Delay(scrapeCache);
        var threads0 = ProcStats.ThreadCpu(service.Process.Pid);
        var onStage0 = await MetricAsync(service, "fetchapi_extract_duration_seconds_count", "thread=\"cpu_stage\"");
        var elsewhere0 = await MetricAsync(service, "fetchapi_extract_duration_seconds_count", "thread=\"other\"");
        var seconds0 = await MetricAsync(service, "fetchapi_extract_duration_seconds_sum");
        double maxQueued = 0, maxBusy = 0;
        using var stop = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                maxQueued = Math.Max(maxQueued, await MetricAsync(service, "fetchapi_extract_queue"));
                maxBusy = Math.Max(maxBusy, await MetricAsync(service, "fetchapi_extract_busy"));
                try
                {
                    await Task.Delay(50, stop.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }
        });

        BatchRun run;
        CpuUse cpu;
        await using (var phase = await PhaseAsync(service, extract is null ? "extract-off" : "extract-on"))
        {
            run = await service.Api.RunAsync(urls, concurrency, extract: extract);
            cpu = phase.End();
        }

        // The stage's threads live as long as the service: their CPU read per name is exact.
        var stageSeconds = ProcStats.ThreadCpu(service.Process.Pid).Where(t => t.Key.StartsWith("fetchapi-cpu", StringComparison.Ordinal))
            .Sum(t => t.Value - threads0.GetValueOrDefault(t.Key));
        await stop.CancelAsync();
        await sampler;
        await Task.Delay(scrapeCache);
        CheckAllFetched(run);
        return new ExtractRun(run, cpu, stageSeconds, maxQueued, maxBusy,
            await MetricAsync(service, "fetchapi_extract_duration_seconds_count", "thread=\"cpu_stage\"") - onStage0,
            await MetricAsync(service, "fetchapi_extract_duration_seconds_count", "thread=\"other\"") - elsewhere0,
            await MetricAsync(service, "fetchapi_extract_duration_seconds_sum") - seconds0,
            service.Process.PeakRssMiB);
    }

    /// <summary>The sum of a metric's samples on /metrics (Prometheus text) over its label sets, those holding <paramref name="label"/> only.</summary>
    static async Task<double> MetricAsync(Service service, string name, string? label = null)
    {
        var text = await service.Http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        double sum = 0;
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith(name, StringComparison.Ordinal) || line.Length == name.Length || line[name.Length] is not ('{' or ' '))
            {
                continue;
            }

            if (label is not null && !line.Contains(label, StringComparison.Ordinal))
            {
                continue;
            }

            var value = line[(line.LastIndexOf('}') + 1)..].Trim().Split(' ')[0];
            sum += double.Parse(value, CultureInfo.InvariantCulture);
        }

        return sum;
    }
}
