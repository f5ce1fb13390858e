namespace FetchApi.Storage;

public static class StorageExtensions
{
    public static WebApplicationBuilder AddFetchStorage(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<StorageOptions>(StorageOptions.Section);
        builder.Services.AddSingleton<IBatchStore, SqliteBatchStore>();
        // Registered before the engine, so the schema exists before the engine resumes unfinished batches.
        builder.Services.AddHostedService<StorageInitializer>();
        builder.Services.AddHostedService<RetentionService>();
        return builder;
    }
}

/// <summary>Creates or upgrades the schema on start.</summary>
sealed class StorageInitializer(IBatchStore store) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => store.InitializeAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
