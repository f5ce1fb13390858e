using FetchApi.Callbacks;
using FetchApi.Engine;
using FetchApi.Storage;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace FetchApi.Hosting;

/// <summary>
/// The one place that says in which order the background parts start and stop, whatever the order of registration.
/// Start: the store's schema, the result writer, the engine (which resumes unfinished batches before the API takes new
/// ones), callbacks, retention. Stop, in reverse: retention and callbacks stop; the engine drains (fetches in flight
/// finish or are aborted); then the writer is completed and writes everything queued; the store closes last.
/// </summary>
public sealed class Lifetime(IStore store, ResultWriter writer, FetchEngine engine, CallbackDispatcher callbacks, RetentionService retention)
    : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await store.InitializeAsync(cancellationToken);
        await writer.StartAsync(cancellationToken);
        await engine.StartAsync(cancellationToken);
        await callbacks.StartAsync(cancellationToken);
        await retention.StartAsync(cancellationToken);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await retention.StopAsync(cancellationToken);
        await callbacks.StopAsync(cancellationToken);
        await engine.StopAsync(cancellationToken);
        writer.Complete();
        await writer.StopAsync(cancellationToken);
        store.Close();
    }
}

public static class LifetimeExtensions
{
    /// <summary>The clock every part reads, and the ordered start and stop of the background parts.</summary>
    public static WebApplicationBuilder AddFetchLifetime(this WebApplicationBuilder builder)
    {
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddHostedService<Lifetime>();
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(30));
        return builder;
    }
}
