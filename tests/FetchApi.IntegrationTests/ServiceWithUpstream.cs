using FetchApi.IntegrationTests.Upstream;

namespace FetchApi.IntegrationTests;

/// <summary>
/// The service in-process on its own database, a loopback upstream and a client: the setting of most tests. Use it as
/// a base class (one service per test) or as a class fixture (one service for a class of read-only tests).
/// </summary>
public class ServiceWithUpstream(IDictionary<string, string?>? overrides = null) : IAsyncLifetime
{
    public FetchApiFactory Factory { get; } = new(overrides);
    public UpstreamServer Upstream { get; private set; } = null!;
    public HttpClient Client { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Upstream = await UpstreamServer.StartAsync();
        Client = Factory.CreateClient();
    }

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        await Factory.DisposeAsync();
        if (Upstream is not null)
        {
            await Upstream.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }
}
