namespace FetchApi.IntegrationTests.Storage;

/// <summary>A storage setting the service cannot use stops it at start, with a message naming the key.</summary>
public sealed class ProviderConfigurationTests
{
    static async Task<Exception> StartAsync(Dictionary<string, string?> settings)
    {
        await using var factory = new FetchApiFactory(settings);
        return Record.Exception(() => factory.CreateClient()) ?? throw new Xunit.Sdk.XunitException("the service started");
    }

    static string Messages(Exception exception)
    {
        var messages = new List<string>();
        for (var e = (Exception?)exception; e is not null; e = e.InnerException)
        {
            messages.Add(e.Message);
        }

        return string.Join(" | ", messages);
    }

    [Fact]
    public async Task AnUnknownProviderStopsTheStartNamingTheKey()
    {
        var failure = await StartAsync(new() { ["Storage:Provider"] = "Mongo" });

        Assert.Contains("Storage:Provider", Messages(failure), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Postgres", "Server=;Username=x")]
    [InlineData("Postgres", "Host=127.0.0.1;NotAKey=1")]
    [InlineData("Sqlite", "Host=127.0.0.1;Database=x")]
    public async Task AConnectionStringTheProviderCannotReadStopsTheStartNamingTheKey(string provider, string connectionString)
    {
        var failure = await StartAsync(new() { ["Storage:Provider"] = provider, ["Storage:ConnectionString"] = connectionString });

        Assert.Contains("Storage:ConnectionString", Messages(failure), StringComparison.Ordinal);
    }
}
