using FetchApi.Callbacks;
using FetchApi.Engine;
using FetchApi.Model;
using FetchApi.Storage;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace FetchApi.Hosting;

/// <summary>
/// The one place that says in which order the background parts start and stop, whatever the order of registration.
/// Start: the store's schema, the result writer, the CPU stage, the engine (which resumes unfinished batches before the
/// API takes new ones), callbacks, retention. Stop, in reverse: retention and callbacks stop; the engine drains (fetches
/// in flight finish or are aborted); the CPU stage reads the pages it was handed (or leaves them, and their slots
/// pending); then the writer is completed and writes everything queued; with several nodes, this node's remaining
/// leases are released; the store closes last.
/// </summary>
public sealed class Lifetime(
    IStore store, ResultWriter writer, CpuStage cpu, FetchEngine engine, CallbackDispatcher callbacks, RetentionService retention, IEnumerable<IWorkClaims> claims)
    : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await store.InitializeAsync(cancellationToken);
        await writer.StartAsync(cancellationToken);
        cpu.Start();
        await engine.StartAsync(cancellationToken);
        await callbacks.StartAsync(cancellationToken);
        await retention.StartAsync(cancellationToken);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await retention.StopAsync(cancellationToken);
        await callbacks.StopAsync(cancellationToken);
        await engine.StopAsync(cancellationToken);
        await cpu.StopAsync();
        writer.Complete();
        await writer.StopAsync(cancellationToken);
        foreach (var claim in claims)
        {
            try
            {
                // Several nodes: what this node aborted goes back to the others now, not when its leases expire.
                await claim.ReleaseAsync(cancellationToken);
            }
            catch (Exception ex) when (ex is StoreUnavailableException or OperationCanceledException)
            {
                // The database is gone or the host gave up waiting: the leases expire by themselves.
            }
        }

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
