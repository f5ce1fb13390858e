using System.Diagnostics;
using System.Globalization;

namespace FetchApi.Bench;

/// <summary>CPU seconds of the service, the upstreams and the bench over one measured phase, and the wall time.</summary>
sealed record CpuUse(double Wall, double Service, double Upstream, double Bench)
{
    /// <summary>Share of the machine (all cores) the three used together.</summary>
    public double MachineShare => (Service + Upstream + Bench) / (Wall * Environment.ProcessorCount);

    public override string ToString() =>
        $"CPU service {Service:F2} s, upstream {Upstream:F2} s, bench {Bench:F2} s = {MachineShare:P0} of {Environment.ProcessorCount} cores × {Wall:F2} s";
}

/// <summary>
/// One measured phase: CPU time of every process taking part, and, when asked, per-thread CPU of the service,
/// dotnet-counters and dotnet-trace attached to it for the phase only.
/// </summary>
sealed class Phase : IAsyncDisposable
{
    readonly Service _service;
    readonly IReadOnlyList<ChildProcess> _upstreams;
    long _started;
    double _service0;
    double _upstream0;
    double _bench0;
    Dictionary<string, double> _threads0 = [];
    (long Voluntary, long Involuntary) _switches0;
    readonly ChildProcess? _counters;
    readonly ChildProcess? _trace;
    readonly ChildProcess? _perf;
    readonly BenchOptions _options;
    readonly string _name;
    CpuUse? _result;

    Phase(Service service, IReadOnlyList<ChildProcess> upstreams, BenchOptions options, string name)
    {
        _service = service;
        _upstreams = upstreams;
        _options = options;
        _name = name;
        var pid = service.Process.Pid.ToString(CultureInfo.InvariantCulture);
        if (options.CountersDirectory is { } counters && Tools.Find("dotnet-counters") is { } countersTool)
        {
            _counters = ChildProcess.Start("dotnet-counters", countersTool,
                ["collect", "-p", pid, "--format", "csv", "--refresh-interval", "1",
                 "--counters", "System.Runtime,Microsoft.AspNetCore.Hosting,System.Net.Http,System.Net.Sockets,Microsoft-AspNetCore-Server-Kestrel",
                 "-o", System.IO.Path.Combine(counters, $"{name}.csv")]);
        }

        if (options.TraceDirectory is { } trace && Tools.Find("dotnet-trace") is { } traceTool)
        {
            _trace = ChildProcess.Start("dotnet-trace", traceTool,
                ["collect", "-p", pid, "--profile", "dotnet-sampled-thread-time", "-o", System.IO.Path.Combine(trace, $"{name}.nettrace")]);
        }

        // perf sees JIT-compiled frames when the service runs with DOTNET_PerfMapEnabled=1 (--set DOTNET_PerfMapEnabled=1).
        if (options.PerfDirectory is { } perf && Tools.Find("perf") is { } perfTool)
        {
            _perf = ChildProcess.Start("perf", perfTool,
                ["record", "-F", "999", "-g", "-p", pid, "-o", System.IO.Path.Combine(perf, $"{name}.perf.data")]);
        }
    }

    /// <summary>The measured phase starts now: CPU counters are read here.</summary>
    void Mark()
    {
        _service0 = _service.Process.CpuSeconds;
        _upstream0 = _upstreams.Sum(u => u.CpuSeconds);
        _bench0 = ProcStats.CpuSeconds(Environment.ProcessId);
        _threads0 = _options.Threads ? ProcStats.ThreadCpu(_service.Process.Pid) : [];
        _switches0 = ProcStats.ContextSwitches(_service.Process.Pid);
        _started = Stopwatch.GetTimestamp();
    }

    public static async Task<Phase> BeginAsync(Service service, IReadOnlyList<ChildProcess> upstreams, BenchOptions options, string name)
    {
        var phase = new Phase(service, upstreams, options, name);
        if (phase._counters is not null || phase._trace is not null || phase._perf is not null)
        {
            // Give the tools time to attach before the measured work starts.
            await Task.Delay(TimeSpan.FromSeconds(2));
        }

        phase.Mark();
        return phase;
    }

    /// <summary>Ends the phase (once) and returns what it used.</summary>
    public CpuUse End()
    {
        if (_result is not null)
        {
            return _result;
        }

        var wall = Stopwatch.GetElapsedTime(_started).TotalSeconds;
        _result = new CpuUse(wall, _service.Process.CpuSeconds - _service0, _upstreams.Sum(u => u.CpuSeconds) - _upstream0,
            ProcStats.CpuSeconds(Environment.ProcessId) - _bench0);
        if (_options.Threads)
        {
            var threads = ProcStats.ThreadCpu(_service.Process.Pid)
                .Select(t => (t.Key, Seconds: t.Value - _threads0.GetValueOrDefault(t.Key)))
                .Where(t => t.Seconds > 0.005)
                .OrderByDescending(t => t.Seconds);
            var (voluntary, involuntary) = ProcStats.ContextSwitches(_service.Process.Pid);
            Console.WriteLine($"    service threads ({ProcStats.Threads(_service.Process.Pid)} now) CPU s by name: " +
                string.Join(", ", threads.Select(t => $"{t.Key}={t.Seconds:F2}")) +
                $"; context switches +{voluntary - _switches0.Voluntary} voluntary, +{involuntary - _switches0.Involuntary} involuntary");
        }

        return _result;
    }

    public async ValueTask DisposeAsync()
    {
        End();
        foreach (var tool in new[] { _counters, _trace, _perf })
        {
            if (tool is null)
            {
                continue;
            }

            if (!tool.HasExited)
            {
                // dotnet-counters and dotnet-trace stop on Enter (or Ctrl+C), perf on SIGINT, and then write their file.
                if (tool != _perf)
                {
                    await tool.SendLineAsync("");
                }

                tool.Interrupt();
                using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                try
                {
                    await tool.WaitForExitAsync(wait.Token);
                }
                catch (OperationCanceledException)
                {
                    Console.WriteLine($"    {tool.Name} did not stop: {tool.Output}");
                }
            }

            Console.WriteLine($"    {tool.Name} for {_name}: {tool.Output.Split('\n').LastOrDefault(l => l.Trim().Length > 0)?.Trim()}");
            await tool.DisposeAsync();
        }
    }
}

static class Tools
{
    /// <summary>A tool on PATH or in ~/.dotnet/tools (where <c>dotnet tool install -g</c> puts it).</summary>
    public static string? Find(string name)
    {
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Append(Path.Combine(home, ".dotnet", "tools"))
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
    }
}
