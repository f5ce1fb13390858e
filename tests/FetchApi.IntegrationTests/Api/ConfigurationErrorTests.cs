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
        var (exitCode, errors) = await ServiceProcess.RunUntilExitAsync(new Dictionary<string, string>
        {
            ["Storage__ConnectionString"] = $"Data Source={Path.Combine(Path.GetTempPath(), $"typo-{Guid.NewGuid():N}.db")}",
            [key] = value,
        });

        Assert.Equal(1, exitCode);
        var line = Assert.Single(errors);
        Assert.StartsWith("Configuration error: ", line, StringComparison.Ordinal);
        Assert.Contains(named, line, StringComparison.Ordinal);
    }
}
