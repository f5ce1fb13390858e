using System.Globalization;
using System.Text.RegularExpressions;

namespace FetchApi.Bench;

/// <summary>
/// What one hey run measured: its wall time (hey's "Total"), its rate, the responses that were 200, and the CPU seconds
/// hey itself used (user + system, from the shell's <c>times</c> after hey exited).
/// </summary>
sealed record HeyResult(double WallSeconds, double RequestsPerSecond, long Ok, long Requests, double CpuSeconds, string Errors)
{
    /// <summary>hey's CPU per request, in microseconds.</summary>
    public double CpuMicrosPerRequest => CpuSeconds * 1e6 / Math.Max(1, Requests);
}

/// <summary>
/// Runs <c>hey</c> (Debian package <c>hey</c>, when installed): a Go load generator with a real HTTP client and a
/// connection pool, i.e. what a fetching service does minus persistence. It is the reference for the service's CPU per
/// URL and for its wall time on the same requests at the same concurrency.
/// </summary>
static partial class Hey
{
    public static string? Path { get; } = Find();

    static string? Find() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => System.IO.Path.Combine(dir, "hey"))
            .FirstOrDefault(File.Exists);

    /// <summary><paramref name="requests"/> GETs of <paramref name="url"/> with <paramref name="concurrency"/> workers.</summary>
    public static async Task<HeyResult> RunAsync(Uri url, int requests, int concurrency)
    {
        if (Path is null)
        {
            throw new BenchException("hey is not installed");
        }

        // bash runs hey and then `times`, whose second line is the CPU its children used: hey's own, read after it exited
        // (its /proc entry is gone by then).
        await using var hey = ChildProcess.Start("hey", "bash",
            ["-c", "\"$0\" \"$@\"; rc=$?; echo; echo 'cpu:'; times; exit $rc", Path,
             "-n", requests.ToString(CultureInfo.InvariantCulture), "-c", concurrency.ToString(CultureInfo.InvariantCulture),
             "-disable-compression", url.AbsoluteUri]);
        await hey.WaitForExitAsync(CancellationToken.None);
        var output = hey.Output;
        if (hey.ExitCode != 0 || TotalLine().Match(output) is not { Success: true } total || RateLine().Match(output) is not { Success: true } rate)
        {
            throw new BenchException($"hey failed ({hey.ExitCode}):\n{output}");
        }

        var ok = OkLine().Match(output) is { Success: true } m ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        var times = TimesLine().Matches(output);
        var cpu = times.Count >= 2 ? Seconds(times[1].Groups[1].Value, times[1].Groups[2].Value) + Seconds(times[1].Groups[3].Value, times[1].Groups[4].Value) : double.NaN;
        var errors = output.Split('\n').SkipWhile(l => !l.StartsWith("Error distribution", StringComparison.Ordinal)).Skip(1)
            .TakeWhile(l => l.Trim().Length > 0).Select(l => l.Trim());
        return new HeyResult(double.Parse(total.Groups[1].Value, CultureInfo.InvariantCulture), double.Parse(rate.Groups[1].Value, CultureInfo.InvariantCulture),
            ok, requests, cpu, string.Join("; ", errors));

        static double Seconds(string minutes, string seconds) =>
            int.Parse(minutes, CultureInfo.InvariantCulture) * 60 + double.Parse(seconds, CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"Total:\s+([\d.]+) secs")]
    private static partial Regex TotalLine();

    [GeneratedRegex(@"Requests/sec:\s+([\d.]+)")]
    private static partial Regex RateLine();

    [GeneratedRegex(@"\[200\]\s+(\d+) responses")]
    private static partial Regex OkLine();

    [GeneratedRegex(@"^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$", RegexOptions.Multiline)]
    private static partial Regex TimesLine();
}
