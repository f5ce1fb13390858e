using System.Diagnostics;
using System.Globalization;

namespace FetchApi.Bench;

/// <summary>A process the bench started: its output is kept (the tail, for error messages) and it dies with the bench.</summary>
sealed class ChildProcess : IAsyncDisposable
{
    readonly Process _process;
    readonly Queue<string> _tail = new();

    ChildProcess(Process process, string name)
    {
        _process = process;
        Name = name;
    }

    public string Name { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public static ChildProcess Start(string name, string fileName, IEnumerable<string> arguments, string? workingDirectory = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(fileName, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        var process = Process.Start(info) ?? throw new BenchException($"could not start {fileName}");
        var child = new ChildProcess(process, name);
        process.OutputDataReceived += (_, e) => child.Append(e.Data);
        process.ErrorDataReceived += (_, e) => child.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_tail)
        {
            _tail.Enqueue(line);
            while (_tail.Count > 200)
            {
                _tail.Dequeue();
            }
        }
    }

    /// <summary>The last lines the process printed.</summary>
    public string Output
    {
        get
        {
            lock (_tail)
            {
                return string.Join('\n', _tail);
            }
        }
    }

    public Task WaitForExitAsync(CancellationToken ct) => _process.WaitForExitAsync(ct);

    public int ExitCode => _process.ExitCode;

    /// <summary>Writes a line to the process's standard input (dotnet-trace stops on Enter).</summary>
    public async Task SendLineAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>SIGINT, as Ctrl+C.</summary>
    public void Interrupt()
    {
        if (!_process.HasExited)
        {
            using var kill = Process.Start("kill", ["-INT", Pid.ToString(CultureInfo.InvariantCulture)]);
            kill?.WaitForExit();
        }
    }

    /// <summary>Peak resident set (VmHWM) in MiB, from /proc/&lt;pid&gt;/status.</summary>
    public double PeakRssMiB => ProcStats.StatusKiB(Pid, "VmHWM") / 1024.0;

    /// <summary>Resident set now (VmRSS) in MiB.</summary>
    public double RssMiB => ProcStats.StatusKiB(Pid, "VmRSS") / 1024.0;

    /// <summary>User + system CPU seconds used so far.</summary>
    public double CpuSeconds => ProcStats.CpuSeconds(Pid);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}

/// <summary>Reads /proc: memory high-water mark, CPU time, per-thread CPU.</summary>
static class ProcStats
{
    // USER_HZ: 100 on every Linux we run on (getconf CLK_TCK).
    const double TicksPerSecond = 100.0;

    public static long StatusKiB(int pid, string field, int? thread = null)
    {
        try
        {
            foreach (var line in File.ReadLines(thread is null ? $"/proc/{pid}/status" : $"/proc/{pid}/task/{thread}/status"))
            {
                if (line.StartsWith(field + ":", StringComparison.Ordinal))
                {
                    var digits = new string(line.AsSpan(field.Length + 1).ToArray().Where(char.IsAsciiDigit).ToArray());
                    return long.Parse(digits, CultureInfo.InvariantCulture);
                }
            }
        }
        catch (IOException)
        {
        }

        return 0;
    }

    public static double CpuSeconds(int pid) => CpuTicks($"/proc/{pid}/stat") / TicksPerSecond;

    static long CpuTicks(string statPath)
    {
        try
        {
            var (_, ticks) = ParseStat(File.ReadAllText(statPath));
            return ticks;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>(comm, utime + stime) from a /proc stat line; comm may hold spaces and parentheses.</summary>
    static (string Comm, long Ticks) ParseStat(string stat)
    {
        var open = stat.IndexOf('(', StringComparison.Ordinal);
        var close = stat.LastIndexOf(')');
        var comm = stat[(open + 1)..close];
        // After ") ": state is field 3; utime and stime are fields 14 and 15.
        var fields = stat[(close + 2)..].Split(' ');
        return (comm, long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture));
    }

    /// <summary>CPU seconds per thread name (threads of one name summed), for the profile.</summary>
    public static Dictionary<string, double> ThreadCpu(int pid)
    {
        var result = new Dictionary<string, double>();
        try
        {
            foreach (var dir in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                try
                {
                    var (comm, ticks) = ParseStat(File.ReadAllText(Path.Combine(dir, "stat")));
                    // ".NET TP Worker" threads and friends: group by name.
                    result[comm] = result.GetValueOrDefault(comm) + ticks / TicksPerSecond;
                }
                catch (IOException)
                {
                }
            }
        }
        catch (DirectoryNotFoundException)
        {
        }

        return result;
    }

    public static int Threads(int pid) => (int)StatusKiB(pid, "Threads");

    /// <summary>Voluntary and involuntary context switches so far, all threads (the process's status counts its main thread only).</summary>
    public static (long Voluntary, long Involuntary) ContextSwitches(int pid)
    {
        long voluntary = 0, involuntary = 0;
        try
        {
            foreach (var dir in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                var tid = int.Parse(Path.GetFileName(dir), CultureInfo.InvariantCulture);
                voluntary += StatusKiB(pid, "voluntary_ctxt_switches", tid);
                involuntary += StatusKiB(pid, "nonvoluntary_ctxt_switches", tid);
            }
        }
        catch (DirectoryNotFoundException)
        {
        }

        return (voluntary, involuntary);
    }
}

/// <summary>Something went wrong with the bench itself (not a missed target): the bench exits non-zero.</summary>
sealed class BenchException : Exception
{
    public BenchException(string message) : base(message)
    {
    }

    public BenchException()
    {
    }

    public BenchException(string message, Exception inner) : base(message, inner)
    {
    }
}
