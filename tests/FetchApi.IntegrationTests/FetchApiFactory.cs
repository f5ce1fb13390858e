using System.Text.Json.Nodes;
using FetchApi.IntegrationTests.Contract;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;

namespace FetchApi.IntegrationTests;

/// <summary>
/// The service in-process, on its own temporary SQLite file. Loopback is allowed as an outbound network, since the
/// upstreams the tests start live there; everything else comes from the defaults unless a test overrides it.
/// Every response it gives is checked against the OpenAPI document it serves (<see cref="Exchanges"/>): a violation
/// fails the test that sent the request.
/// </summary>
public sealed class FetchApiFactory : WebApplicationFactory<Program>
{
    readonly string _directory = Path.Combine(Path.GetTempPath(), "fetchapi-tests", Guid.NewGuid().ToString("N"));
    readonly Dictionary<string, string?> _settings;
    // The creating test's output: where the service's log goes when a log call carries no test context of its own.
    readonly ITestOutputHelper? _output = TestContext.Current.TestOutputHelper;

    public FetchApiFactory(IDictionary<string, string?>? overrides = null)
    {
        Exchanges = new ExchangeRecorder(LoadDocumentAsync);
        Directory.CreateDirectory(_directory);
        _settings = new Dictionary<string, string?>
        {
            ["Storage:ConnectionString"] = $"Data Source={DatabasePath}",
            ["Security:AllowedNetworks:0"] = "127.0.0.0/8",
            // Whatever a test submits, nothing but loopback is ever connected to.
            ["Security:DeniedNetworks:0"] = "0.0.0.0/0",
            ["Security:DeniedNetworks:1"] = "::/0",
            // Short backoff keeps retry tests quick; the retry logic is the same.
            ["Engine:RetryBaseDelay"] = "00:00:00.050",
            ["RateLimiting:CreatePerSecond"] = "1000",
            ["RateLimiting:CreateBurst"] = "1000",
            ["RateLimiting:CheckPerSecond"] = "1000",
            ["RateLimiting:CheckBurst"] = "1000",
            ["RateLimiting:ApiPerSecond"] = "10000",
            ["RateLimiting:ApiBurst"] = "10000",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                _settings.Remove(key);
            }
            else
            {
                _settings[key] = value;
            }
        }
    }

    public string DatabasePath => Path.Combine(_directory, "fetchapi.db");

    /// <summary>The check of every exchange against the served OpenAPI document, and what it saw.</summary>
    public ExchangeRecorder Exchanges { get; }

    async Task<JsonObject> LoadDocumentAsync()
    {
        using var client = Server.CreateClient();
        var text = await client.GetStringAsync(new Uri("/swagger/v1/swagger.json", UriKind.Relative), TestContext.Current.CancellationToken);
        return JsonNode.Parse(text)!.AsObject();
    }

    protected override IHost CreateHost(IHostBuilder builder)
    {
        // Minimal-API hosts read configuration while building: it must go in here, not in ConfigureWebHost.
        builder.ConfigureHostConfiguration(config => config.AddInMemoryCollection(_settings));
        // The console keeps Logging:LogLevel:Default; the test output gets its own levels (see TestOutputLogging).
        builder.ConfigureLogging(logging => logging.AddTestOutput(_output));
        // Requests run in the sending test's execution context, so what the service logs while handling one goes to that
        // test's output even when the factory is a fixture shared by a class of tests.
        builder.ConfigureServices(services => services.Configure<TestServerOptions>(o => o.PreserveExecutionContext = true));
        builder.ConfigureServices(services => services.AddSingleton<IStartupFilter>(new RecordExchanges(Exchanges)));
        return base.CreateHost(builder);
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }

        Exchanges.Dispose();
        Exchanges.ReportUnclaimed();
    }
}
