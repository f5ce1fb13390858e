using FetchApi.IntegrationTests.Durability;

namespace FetchApi.IntegrationTests.Storage;

/// <summary>
/// A storage setting the service cannot use stops it at start, with a message naming the key: started as an operator
/// starts it (a real process), and read as an operator reads it (its output).
/// </summary>
public sealed class ProviderConfigurationTests
{
    static async Task<string> FailedStartAsync(Dictionary<string, string> settings)
    {
        var failure = await Record.ExceptionAsync(async () =>
        {
            await using var service = await ServiceProcess.StartAsync(Path.Combine(Path.GetTempPath(), $"{Guid.NewGuid():N}.db"), settings);
        });
        Assert.True(failure is not null, "the service started");
        return failure.Message;
    }

    [Fact]
    public async Task AnUnknownProviderStopsTheStartNamingTheKey()
    {
        var output = await FailedStartAsync(new() { ["Storage__Provider"] = "Mongo" });

        Assert.Contains("Storage:Provider", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Postgres", "Server=;Username=x")]
    [InlineData("Postgres", "Host=127.0.0.1;NotAKey=1")]
    [InlineData("Sqlite", "Host=127.0.0.1;Database=x")]
    public async Task AConnectionStringTheProviderCannotReadStopsTheStartNamingTheKey(string provider, string connectionString)
    {
        var output = await FailedStartAsync(new() { ["Storage__Provider"] = provider, ["Storage__ConnectionString"] = connectionString });

        Assert.Contains("Storage:ConnectionString", output, StringComparison.Ordinal);
    }
}
