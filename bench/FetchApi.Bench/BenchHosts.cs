using System.Globalization;
using System.Text.RegularExpressions;

namespace FetchApi.Bench;

/// <summary>
/// The hosts scenario (issue 23): 100,000 distinct hosts (<c>s{step}h{n}.localhost</c>, which the service sends to
/// the loopback upstream) through one node, politely (a per-host rate and robots.txt), in ten batches of 10,000 new
/// hosts each. Measures the service's CPU per new host for each further 10,000 hosts (flat when no per-host table costs
/// more as it grows) and the live heap after a forced full GC (dotnet-gcdump) at start, at the peak, and after idling
/// past the robots.txt cache duration (back near the start when idle hosts are given back).
/// </summary>
sealed partial class Bench
{
    const int HostSteps = 10, HostsPerStep = 10_000, PoliteConcurrency = 256;
    const double PoliteRate = 10;
    static readonly TimeSpan HostsCacheDuration = TimeSpan.FromMinutes(3);

    async Task HostsAsync()
    {
        // Runs once whatever --repeat says: each run idles for the whole cache duration.
        const int latency = 0;
        await using var service = await StartServiceAsync(new()
        {
            ["Engine__RobotsCacheDuration"] = HostsCacheDuration.ToString("c", CultureInfo.InvariantCulture),
        });
        await WarmUpAsync(service, latency);
        var port = await upstreams.PortAsync(latency);
        List<string> Hosts(string prefix, int count) =>
            [.. Enumerable.Range(0, count).Select(n => $"http://{prefix}h{n}.localhost:{port}/close/{prefix}{n}")];

        // The polite path warm too (1,000 hosts, counted in the peak).
        await PoliteRunAsync(service, Hosts("warm", 1000));
        var start = await LiveHeapAsync(service, "start");

        var perHost = new List<double>();
        for (var step = 1; step <= HostSteps; step++)
        {
            var urls = Hosts($"s{step}", HostsPerStep);
            BatchRun run;
            CpuUse cpu;
            await using (var phase = await PhaseAsync(service, $"hosts-{step}"))
            {
                run = await PoliteRunAsync(service, urls);
                cpu = phase.End();
            }

            CheckAllFetched(run);
            var ms = cpu.Service * 1000 / HostsPerStep;
            perHost.Add(ms);
            Record("hosts", $"CPU per new host, hosts {((step - 1) * HostsPerStep) + 1:N0}-{step * HostsPerStep:N0}", ms, "ms", null,
                $"{HostsPerStep:N0} new hosts at {PoliteRate}/s each with robots.txt: wall {run.Wall.TotalSeconds:F1} s, " +
                $"{HostsPerStep / run.Wall.TotalSeconds:F0} new hosts/s; {cpu}");
        }

        var peak = await LiveHeapAsync(service, "peak");
        Console.WriteLine($"    idling {HostsCacheDuration.TotalSeconds + 15:F0} s: past the robots.txt cache duration and the sweep");
        await Task.Delay(HostsCacheDuration + TimeSpan.FromSeconds(15));
        var idle = await LiveHeapAsync(service, "idle");

        var hosts = 1000 + (HostSteps * HostsPerStep);
        Record("hosts", "CPU per new host, last 10,000 ÷ first 10,000", perHost[^1] / perHost[0], "×", new Target(1.5, AtMost: true),
            string.Join(" → ", perHost.Select(v => v.ToString("F2", CultureInfo.InvariantCulture))) + " ms");
        Record("hosts", "live heap at start", start.Mb, "MB", null, start.Detail);
        Record("hosts", "live heap at peak", peak.Mb, "MB", null, $"{peak.Detail}; {(peak.Mb - start.Mb) * 1e6 / hosts:F0} B per host above start");
        Record("hosts", "live heap idle past the cache duration", idle.Mb, "MB", null, $"{idle.Detail}; {(idle.Mb - start.Mb) * 1e6 / hosts:F0} B per host above start");
        Record("hosts", "live heap kept after idle, per host", (idle.Mb - start.Mb) * 1e6 / hosts, "B", new Target(20, AtMost: true),
            $"(idle - start) / {hosts:N0} hosts");
    }

    static Task<BatchRun> PoliteRunAsync(Service service, IReadOnlyList<string> urls) =>
        RunAsync(service, () => service.Api.SubmitPoliteAsync(urls, PoliteConcurrency, PoliteRate));

    static async Task<BatchRun> RunAsync(Service service, Func<Task<Guid>> submit)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var id = await submit();
        return await service.Api.WaitAsync(id, started, TimeSpan.FromMinutes(5));
    }

    /// <summary>
    /// The service's live heap: dotnet-gcdump forces a full blocking GC and reports the bytes still reachable. Without
    /// the tool (dotnet tool install -g dotnet-gcdump) the RSS alone is printed.
    /// </summary>
    async Task<(double Mb, string Detail)> LiveHeapAsync(Service service, string label)
    {
        var rss = service.Process.RssMiB;
        if (Tools.Find("dotnet-gcdump") is not { } tool)
        {
            Console.WriteLine("    note: dotnet-gcdump not installed: no live heap, RSS only");
            return (double.NaN, $"RSS {rss:F0} MiB");
        }

        var file = Path.Combine(workDirectory, $"hosts-{label}.gcdump");
        var pid = service.Process.Pid.ToString(CultureInfo.InvariantCulture);
        await using (var collect = ChildProcess.Start("gcdump", tool, ["collect", "-p", pid, "-o", file]))
        {
            await collect.WaitForExitAsync(CancellationToken.None);
        }

        // The total is the report's first line; the process keeps only the last lines of what a child prints.
        await using var report = ChildProcess.Start("gcdump-report", "bash", ["-c", $"'{tool}' report '{file}' | head -3"]);
        await report.WaitForExitAsync(CancellationToken.None);
        var match = HeapBytes().Match(report.Output);
        File.Delete(file);
        if (!match.Success)
        {
            throw new BenchException($"dotnet-gcdump report printed no heap size:\n{report.Output}");
        }

        var bytes = long.Parse(match.Groups[1].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
        return (bytes / 1e6, $"{label}: {bytes / 1e6:F1} MB reachable after a full GC (dotnet-gcdump), RSS {rss:F0} MiB");
    }

    [GeneratedRegex(@"([\d,]+)\s+GC Heap bytes")]
    private static partial Regex HeapBytes();
}
