using System.Globalization;
using System.Reflection;
using System.Text;
using FetchApi.Bench;

// FetchApi benchmark (issue 5). `dotnet run -c Release --project bench/FetchApi.Bench -- <scenario|all> [options]`.
// Exit code: 0 when every scenario ran (targets missed or not), 1 when the bench itself failed, 2 on bad usage.

if (args is ["upstream", ..])
{
    return await Upstream.RunAsync(IntOption(args, "--latency-ms", 0), IntOption(args, "--port", 0));
}

BenchOptions options;
try
{
    options = Parse(args);
}
catch (ArgumentException e)
{
    await Console.Error.WriteLineAsync(e.Message);
    await Console.Error.WriteLineAsync(Usage);
    return 2;
}

var machine = Machine.Describe();
Console.WriteLine($"machine: {machine}");
Console.WriteLine($"hey: {Hey.Path ?? "not installed (apt-get install hey): the service's CPU per URL and its latency-bound wall are not compared with it"}");
Console.WriteLine($"wrk: {Wrk.Path ?? "not installed (apt-get install wrk): throughput is not compared with it, the API is measured with HttpClient only"}");

var work = Directory.CreateTempSubdirectory("fetchapi-bench-");
try
{
    var serviceDirectory = options.ServiceDirectory ?? await Service.PublishAsync(RepositoryRoot(), Path.Combine(work.FullName, "service"));
    foreach (var dir in new[] { options.CountersDirectory, options.TraceDirectory, options.PerfDirectory }.OfType<string>())
    {
        Directory.CreateDirectory(dir);
    }

    // The upstream is this program again, in upstream mode: the apphost when there is one, else `dotnet FetchApi.Bench.dll`.
    var self = Environment.ProcessPath!;
    string[] prefix = Path.GetFileNameWithoutExtension(self) == "dotnet" ? [Assembly.GetExecutingAssembly().Location] : [];
    await using var upstreams = new Upstreams(self, prefix);
    await using var bench = new Bench(options, serviceDirectory, work.FullName, upstreams);
    foreach (var scenario in options.Scenarios)
    {
        await bench.RunAsync(scenario);
    }

    var report = Report(machine, options, bench.Measurements);
    Console.WriteLine();
    Console.WriteLine(report);
    if (options.MarkdownOutput is { } file)
    {
        await File.WriteAllTextAsync(file, report);
        Console.WriteLine($"written to {file}");
    }

    return 0;
}
catch (BenchException e)
{
    await Console.Error.WriteLineAsync($"bench failed: {e.Message}");
    return 1;
}
finally
{
    try
    {
        work.Delete(recursive: true);
    }
    catch (IOException)
    {
    }
}

static int IntOption(string[] args, string name, int fallback)
{
    var at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
}

static BenchOptions Parse(string[] args)
{
    var scenarios = new List<string>();
    var settings = new Dictionary<string, string>();
    var variant = new Dictionary<string, string>();
    var options = new BenchOptions();
    for (var i = 0; i < args.Length; i++)
    {
        string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
        switch (args[i])
        {
            case "--repeat":
                options = options with { Repeat = int.Parse(Next(), CultureInfo.InvariantCulture) };
                break;
            case "--service-dir":
                options = options with { ServiceDirectory = Path.GetFullPath(Next()) };
                break;
            case "--counters":
                options = options with { CountersDirectory = Path.GetFullPath(Next()) };
                break;
            case "--trace":
                options = options with { TraceDirectory = Path.GetFullPath(Next()) };
                break;
            case "--perf":
                options = options with { PerfDirectory = Path.GetFullPath(Next()) };
                break;
            case "--threads":
                options = options with { Threads = true };
                break;
            case "--api-connections":
                options = options with { ApiConnections = int.Parse(Next(), CultureInfo.InvariantCulture) };
                break;
            case "--markdown":
                options = options with { MarkdownOutput = Path.GetFullPath(Next()) };
                break;
            case "--set":
                var pair = Next().Split('=', 2);
                settings[pair[0]] = pair.Length == 2 ? pair[1] : throw new ArgumentException("--set takes KEY=VALUE");
                break;
            case "--variant":
                var setting = Next().Split('=', 2);
                variant[setting[0]] = setting.Length == 2 ? setting[1] : throw new ArgumentException("--variant takes KEY=VALUE");
                break;
            case "all":
                scenarios.AddRange(Bench.AllScenarios);
                break;
            case var name when Bench.AllScenarios.Contains(name):
                scenarios.Add(name);
                break;
            default:
                throw new ArgumentException($"unknown argument {args[i]}");
        }
    }

    if (scenarios.Count == 0)
    {
        throw new ArgumentException("name a scenario, or all");
    }

    return options with { Scenarios = scenarios.Distinct().ToList(), ServiceSettings = settings, VariantSettings = variant };
}

static string RepositoryRoot()
{
    foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "FetchApi.sln")))
            {
                return dir.FullName;
            }
        }
    }

    throw new BenchException("cannot find the repository (FetchApi.sln) above the current directory; pass --service-dir");
}

static string Report(Machine machine, BenchOptions options, IReadOnlyList<Measurement> measurements)
{
    var text = new StringBuilder();
    var inv = CultureInfo.InvariantCulture;
    text.AppendLine(inv, $"Machine: {machine}; load average at the end {Machine.CurrentLoadAverage()}.");
    text.AppendLine(inv, $"Runs per scenario: {options.Repeat}. Best = best run; spread = worst run to best run.");
    text.AppendLine();
    text.AppendLine("| scenario | metric | target | best | worst | met (best run) | met (every run) |");
    text.AppendLine("|---|---|---|---|---|---|---|");
    foreach (var group in measurements.GroupBy(m => (m.Scenario, m.Metric)))
    {
        var first = group.First();
        var higherIsBetter = first.HigherIsBetter ?? (first.Target is { AtMost: false } || (first.Target is null && first.Unit == "/s"));
        var values = group.Select(m => m.Value).ToList();
        var best = higherIsBetter ? values.Max() : values.Min();
        var worst = higherIsBetter ? values.Min() : values.Max();
        var target = first.Target;
        text.AppendLine(inv,
            $"| {first.Scenario} | {first.Metric} | {(target is null ? "–" : $"{target} {first.Unit}")} | {Format(best)} {first.Unit} | {Format(worst)} {first.Unit} | " +
            $"{(target is null ? "–" : target.IsMetBy(best) ? "yes" : "**no**")} | {(target is null ? "–" : values.All(target.IsMetBy) ? "yes" : "**no**")} |");
    }

    var sweep = measurements.Where(m => m.Scenario == "sweep").ToList();
    if (sweep.Count > 0)
    {
        var best = Bench.SweepConcurrency
            .Select(c => sweep.Where(m => m.Metric == $"c={c} fetches/s").Select(m => m.Value).DefaultIfEmpty(0).Max())
            .ToList();
        var ideal = Bench.SweepConcurrency.Select(c => c * 1000.0 / 20).ToList();
        text.AppendLine();
        text.AppendLine("```mermaid");
        text.AppendLine("xychart-beta");
        text.AppendLine("    title \"Fetches/s vs concurrency, 20 ms upstream latency (best run)\"");
        text.AppendLine(inv, $"    x-axis \"concurrency\" [{string.Join(", ", Bench.SweepConcurrency)}]");
        text.AppendLine(inv, $"    y-axis \"fetches per second\" 0 --> {Math.Ceiling(ideal.Max() / 1000) * 1000:F0}");
        text.AppendLine(inv, $"    line [{string.Join(", ", ideal.Select(v => v.ToString("F0", inv)))}]");
        text.AppendLine(inv, $"    bar [{string.Join(", ", best.Select(v => v.ToString("F0", inv)))}]");
        text.AppendLine("```");
        text.AppendLine("Line: ideal (concurrency / 20 ms). Bars: measured.");
    }

    return text.ToString();

    static string Format(double value) => value.ToString(Math.Abs(value) >= 100 ? "F0" : "0.###", CultureInfo.InvariantCulture);
}

static partial class Program
{
    const string Usage = """
        usage: dotnet run -c Release --project bench/FetchApi.Bench -- <latency|throughput|growth|fairness|memory|api|sweep|extract|pg-throughput|pg-latency|pg-cluster|all>... [options]
          --repeat N            runs per scenario (default 3)
          --service-dir DIR     use this published FetchApi instead of publishing src/FetchApi (Release) into a temp folder
          --set KEY=VALUE       extra service setting (environment variable), e.g. --set Engine__WriteBatchSize=1000
          --variant KEY=VALUE   run each scenario twice, the second time with this extra setting too (repeatable), to compare in one invocation
          --api-connections N   concurrent connections for the API scenario (default 32)
          --threads             print the service's CPU time per thread name for each phase
          --counters DIR        run dotnet-counters collect (csv) on the service during each phase
          --trace DIR           run dotnet-trace collect (sampled thread time) on the service during each phase
          --perf DIR            run perf record -g on the service during each phase (add --set DOTNET_PerfMapEnabled=1 for .NET frames)
          --markdown FILE       also write the summary table (and the sweep chart) to FILE
        """;
}
