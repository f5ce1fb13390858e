using System.Diagnostics;
using FetchApi.IntegrationTests.Durability;

namespace FetchApi.IntegrationTests.ApiTests;

/// <summary>A typo in a setting stops the real process at start with one line naming the key, never silent defaults.</summary>
public sealed class ConfigurationErrorTests
{
    [Theory]
    [InlineData("Storage__Provder", "Postgres", "Storage:Provder is not a setting")]
    [InlineData("Engine__PerHostConcurency", "4", "Engine:PerHostConcurency is not a setting")]
    [InlineData("Security__AlowedNetworks__0", "127.0.0.0/8", "Security:AlowedNetworks is not a setting")]
    [InlineData("Batches__MaxPageSize", "many", "'Batches:MaxPageSize'")]
    [InlineData("Engine__GlobalConcurrency", "0", "GlobalConcurrency")]
    public async Task ATypoStopsTheStartWithOneLineNamingTheKey(string key, string value, string named)
    {
        var dll = ServiceProcess.ServiceDll();
        var info = new ProcessStartInfo("dotnet", [dll, "--urls", "http://127.0.0.1:0"])
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        info.Environment["Storage__ConnectionString"] = $"Data Source={Path.Combine(Path.GetTempPath(), $"typo-{Guid.NewGuid():N}.db")}";
        info.Environment["Security__DeniedNetworks__0"] = "0.0.0.0/0";
        info.Environment[key] = value;

        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        deadline.CancelAfter(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(deadline.Token);
        var errors = (await stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        await stdout;

        Assert.Equal(1, process.ExitCode);
        var line = Assert.Single(errors);
        Assert.StartsWith("Configuration error: ", line, StringComparison.Ordinal);
        Assert.Contains(named, line, StringComparison.Ordinal);
    }
}
