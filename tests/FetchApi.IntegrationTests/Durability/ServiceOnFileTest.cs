using FetchApi.IntegrationTests.Upstream;

namespace FetchApi.IntegrationTests.Durability;

/// <summary>
/// For tests that run the real service process: a fresh folder for its SQLite file, removed afterwards, and a loopback
/// upstream to fetch from.
/// </summary>
public abstract class ServiceOnFileTest(string name) : IAsyncLifetime
{
    protected string Folder { get; } = Path.Combine(Path.GetTempPath(), $"fetchapi-{name}", Guid.NewGuid().ToString("N"));

    protected UpstreamServer Upstream { get; private set; } = null!;

    protected string DatabasePath => Path.Combine(Folder, "fetchapi.db");

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(Folder);
        Upstream = await UpstreamServer.StartAsync();
    }

    public virtual async ValueTask DisposeAsync()
    {
        if (Upstream is not null)
        {
            await Upstream.DisposeAsync();
        }

        Directory.Delete(Folder, recursive: true);
        GC.SuppressFinalize(this);
    }
}
