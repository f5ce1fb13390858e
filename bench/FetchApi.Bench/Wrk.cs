using System.Globalization;
using System.Text.RegularExpressions;

namespace FetchApi.Bench;

/// <summary>What one wrk run measured.</summary>
sealed record WrkResult(double RequestsPerSecond, double P50Ms, double P99Ms, long Requests, string Errors);

/// <summary>Runs <c>wrk</c> (when installed) and reads its summary.</summary>
static partial class Wrk
{
    public static string? Path { get; } = Find();

    static string? Find() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => System.IO.Path.Combine(dir, "wrk"))
            .FirstOrDefault(File.Exists);

    public static async Task<WrkResult> RunAsync(Uri url, int connections, int threads, TimeSpan duration)
    {
        if (Path is null)
        {
            throw new BenchException("wrk is not installed");
        }

        await using var wrk = ChildProcess.Start("wrk", Path,
            ["-c", connections.ToString(CultureInfo.InvariantCulture), "-t", threads.ToString(CultureInfo.InvariantCulture),
             "-d", $"{(int)duration.TotalSeconds}s", "--latency", url.AbsoluteUri]);
        await wrk.WaitForExitAsync(CancellationToken.None);
        var output = wrk.Output;
        if (wrk.ExitCode != 0 || RequestsPerSecondLine().Match(output) is not { Success: true } rps)
        {
            throw new BenchException($"wrk failed ({wrk.ExitCode}):\n{output}");
        }

        var requests = RequestsLine().Match(output) is { Success: true } r ? long.Parse(r.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        var errors = string.Join("; ", output.Split('\n')
            .Where(l => l.Contains("Non-2xx", StringComparison.Ordinal) || l.Contains("Socket errors", StringComparison.Ordinal))
            .Select(l => l.Trim()));
        return new WrkResult(double.Parse(rps.Groups[1].Value, CultureInfo.InvariantCulture), Percentile(output, "50%"), Percentile(output, "99%"),
            requests, errors);
    }

    /// <summary>A line of wrk's "Latency Distribution" block, in milliseconds.</summary>
    static double Percentile(string output, string label)
    {
        var match = Regex.Match(output, $@"^\s*{Regex.Escape(label)}\s+([\d.]+)(us|ms|s)\s*$", RegexOptions.Multiline, TimeSpan.FromSeconds(1));
        if (!match.Success)
        {
            return double.NaN;
        }

        var value = double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        return match.Groups[2].Value switch
        {
            "us" => value / 1000,
            "s" => value * 1000,
            _ => value,
        };
    }

    [GeneratedRegex(@"Requests/sec:\s+([\d.]+)")]
    private static partial Regex RequestsPerSecondLine();

    [GeneratedRegex(@"(\d+) requests in")]
    private static partial Regex RequestsLine();
}
