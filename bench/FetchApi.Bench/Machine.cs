using System.Globalization;
using System.Runtime.InteropServices;

namespace FetchApi.Bench;

/// <summary>The machine a run was made on, as printed beside every result.</summary>
sealed record Machine(int Cores, string Cpu, double MemoryGiB, string Os, string Runtime, string LoadAverage)
{
    public static Machine Describe()
    {
        var cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown"
            : "unknown";
        var memory = ProcMemInfoKiB("MemTotal") / 1024.0 / 1024.0;
        return new Machine(Environment.ProcessorCount, cpu, memory, RuntimeInformation.OSDescription, RuntimeInformation.FrameworkDescription,
            CurrentLoadAverage());
    }

    public static string CurrentLoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    static long ProcMemInfoKiB(string field)
    {
        if (!File.Exists("/proc/meminfo"))
        {
            return 0;
        }

        var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        var digits = line is null ? "0" : new string(line.Where(char.IsAsciiDigit).ToArray());
        return long.Parse(digits, CultureInfo.InvariantCulture);
    }

    public override string ToString() =>
        $"{Cores} cores ({Environment.ProcessorCount} logical CPUs seen by .NET), {Cpu}, {MemoryGiB:F1} GiB RAM, {Os}, {Runtime}, load average at start {LoadAverage}";
}
