using FetchApi.Batches;
using FetchApi.Callbacks;
using FetchApi.Engine;
using FetchApi.Storage;

namespace FetchApi.IntegrationTests.Storage;

/// <summary>
/// One provider's store, built by the service's own registration (<c>AddFetchStorage</c>) from configuration, with
/// every role resolved: what the contract tests talk to. Nothing else of the service runs.
/// </summary>
public sealed class StoreUnderTest : IAsyncDisposable
{
    readonly WebApplication _app;

    StoreUnderTest(WebApplication app)
    {
        _app = app;
        Store = Get<IStore>();
        Commands = Get<IBatchCommands>();
        Queries = Get<IBatchQueries>();
        Sink = Get<IResultSink>();
        Outbox = Get<ICallbackOutbox>();
        Retention = Get<IRetentionStore>();
        Work = Get<IWorkSource>();
        Claims = app.Services.GetService<IWorkClaims>();
    }

    T Get<T>() where T : notnull => _app.Services.GetRequiredService<T>();

    public IStore Store { get; }
    public IBatchCommands Commands { get; }
    public IBatchQueries Queries { get; }
    public IResultSink Sink { get; }
    public ICallbackOutbox Outbox { get; }
    public IRetentionStore Retention { get; }
    public IWorkSource Work { get; }

    /// <summary>Set when the provider shares work between nodes by claims (PostgreSQL).</summary>
    public IWorkClaims? Claims { get; }

    public BatchChanges Changes => Get<BatchChanges>();

    public static async Task<StoreUnderTest> OpenAsync(StorageProvider provider, string connectionString, string nodeId = "node-a",
        IDictionary<string, string?>? settings = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Storage:Provider"] = provider.ToString(),
            ["Storage:ConnectionString"] = connectionString,
            ["Engine:NodeId"] = nodeId,
            ["Engine:PerHostConcurrency"] = "1000",
        });
        builder.Configuration.AddInMemoryCollection(settings ?? new Dictionary<string, string?>());
        builder.AddFetchStorage();
        builder.Services.AddValidatedOptions<EngineOptions>(EngineOptions.Section);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<BatchChanges>();
        var app = builder.Build();
        var store = new StoreUnderTest(app);
        await store.Store.InitializeAsync(TestContext.Current.CancellationToken);
        return store;
    }

    public async ValueTask DisposeAsync()
    {
        Store.Close();
        await _app.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
    }
}
