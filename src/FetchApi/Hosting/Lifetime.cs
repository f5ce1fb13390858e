using FetchApi.Callbacks;
using FetchApi.Engine;
using FetchApi.Model;
using FetchApi.Storage;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace FetchApi.Hosting;

/// <summary>
/// The one place that says in which order the background parts start and stop, whatever the order of registration.
/// Start: the store's schema, the result writer, the CPU stage, the engine (which resumes unfinished batches before the
/// API takes new ones), callbacks, retention. A store that cannot be opened yet (read-only, unreachable) is tried again
/// every 2 s while the service answers: live, not ready, batch operations 503; the parts start once it opens. Stop, in
/// reverse: retention and callbacks stop; the engine drains (fetches in flight finish or are aborted); the CPU stage
/// reads the pages it was handed (or leaves them, and their slots pending); then the writer is completed and writes
/// everything queued; with several nodes, this node's remaining leases are released; the store closes last.
/// </summary>
public sealed partial class Lifetime(
    IStore store, StoreOpening opening, ResultWriter writer, CpuStage cpu, FetchEngine engine, CallbackDispatcher callbacks,
    RetentionService retention, IEnumerable<IWorkClaims> claims, IHostApplicationLifetime host, TimeProvider time, ILogger<Lifetime> logger)
    : IHostedService
{
    static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(2);
    Task? _openingLater;
    bool _started;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await store.InitializeAsync(cancellationToken);
        }
        catch (StoreUnavailableException e)
        {
            opening.Wait(e);
            LogWaiting(e.Message, RetryInterval);
            // The host cancels ApplicationStopping before it stops the hosted services: no token of our own to dispose.
            _openingLater = OpenLaterAsync(host.ApplicationStopping);
            return;
        }

        await StartPartsAsync(cancellationToken);
    }

    async Task OpenLaterAsync(CancellationToken stopping)
    {
        try
        {
            while (true)
            {
                await Task.Delay(RetryInterval, time, stopping);
                try
                {
                    await store.InitializeAsync(stopping);
                    break;
                }
                catch (StoreUnavailableException e)
                {
                    opening.Wait(e);
                }
            }

            await StartPartsAsync(stopping);
            opening.Opened();
            LogOpened();
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // What a first start would have refused (a foreign file, a newer schema): the same refusal, later.
            LogCannotOpen(e);
            Environment.ExitCode = 1;
            host.StopApplication();
        }
    }

    async Task StartPartsAsync(CancellationToken cancellationToken)
    {
        await writer.StartAsync(cancellationToken);
        cpu.Start();
        await engine.StartAsync(cancellationToken);
        await callbacks.StartAsync(cancellationToken);
        await retention.StartAsync(cancellationToken);
        _started = true;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_openingLater is not null)
        {
            try
            {
#pragma warning disable VSTHRD003 // our own task, started in StartAsync; no synchronization context here.
                await _openingLater.WaitAsync(cancellationToken);
#pragma warning restore VSTHRD003
            }
            catch (OperationCanceledException)
            {
                // The host gave up waiting.
            }
        }

        if (!_started)
        {
            store.Close();
            return;
        }

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

    [LoggerMessage(Level = LogLevel.Error,
        Message = "The store cannot be opened: {Reason}. The service runs without it (live, not ready, batch operations 503 " +
                  "store_unavailable) and tries again every {Interval}; fix the cause and it goes on by itself.")]
    partial void LogWaiting(string reason, TimeSpan interval);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The store is open now: unfinished batches resume and the service is ready")]
    partial void LogOpened();

    [LoggerMessage(Level = LogLevel.Critical, Message = "The store opened but cannot be used; stopping")]
    partial void LogCannotOpen(Exception exception);
}

public static class LifetimeExtensions
{
    /// <summary>
    /// How long the host lets the ordered stop take: <c>Engine:ShutdownTimeout</c> for fetches in flight to finish, 5 s
    /// for the aborted ones to unwind, <c>Engine:ExtractTimeout</c> for the page the CPU stage is reading, and 10 s for
    /// the writer's last group and the release of this node's leases. A fixed host timeout (it was 30 s) cut a longer
    /// <c>Engine:ShutdownTimeout</c> short and dropped the results of fetches it had promised to wait for.
    /// </summary>
    public static TimeSpan ShutdownBudget(EngineOptions engine) =>
        engine.ShutdownTimeout + TimeSpan.FromSeconds(5) + engine.ExtractTimeout + TimeSpan.FromSeconds(10);

    /// <summary>The clock every part reads, and the ordered start and stop of the background parts.</summary>
    public static WebApplicationBuilder AddFetchLifetime(this WebApplicationBuilder builder)
    {
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<StoreOpening>();
        builder.Services.AddHostedService<Lifetime>();
        builder.Services.AddOptions<HostOptions>().Configure<IOptions<EngineOptions>>((host, engine) => host.ShutdownTimeout = ShutdownBudget(engine.Value));
        return builder;
    }
}
