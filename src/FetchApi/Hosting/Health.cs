using FetchApi.Engine;
using FetchApi.Http;
using FetchApi.Model;
using FetchApi.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace FetchApi.Hosting;

public static class Health
{
    public static WebApplicationBuilder AddFetchHealthChecks(this WebApplicationBuilder builder)
    {
        builder.Services.AddHealthChecks()
            .AddCheck<StoreHealthCheck>("store", tags: ["ready"])
            .AddCheck<EngineHealthCheck>("engine", tags: ["ready"]);
        return builder;
    }

    public static WebApplication MapFetchHealthChecks(this WebApplication app)
    {
        var group = app.MapGroup("/health").WithTags("Health").AnswerHeadLikeGet();
        group.MapGet("/live", (HealthCheckService health, CancellationToken cancellationToken) => CheckAsync(health, _ => false, cancellationToken))
            .WithName("GetLiveness").WithSummary("Whether the process is up (200), for liveness probes");
        group.MapGet("/ready", (HealthCheckService health, CancellationToken cancellationToken) =>
                CheckAsync(health, c => c.Tags.Contains("ready"), cancellationToken))
            .WithName("GetReadiness").WithSummary("Whether the store accepts writes and the engine has room (200), or not (503)")
            .Produces<HealthStatus>(StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    static async Task<Results<Ok<HealthStatus>, JsonHttpResult<HealthStatus>>> CheckAsync(
        HealthCheckService health, Func<HealthCheckRegistration, bool> predicate, CancellationToken cancellationToken)
    {
        var report = await health.CheckHealthAsync(predicate, cancellationToken);
        var status = new HealthStatus(Name(report.Status),
            report.Entries.ToDictionary(e => e.Key, e => new HealthCheckStatus(Name(e.Value.Status), e.Value.Description)));
        return report.Status == Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy
            ? TypedResults.Json(status, statusCode: StatusCodes.Status503ServiceUnavailable)
            : TypedResults.Ok(status);
    }

    static HealthState Name(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus status) => status switch
    {
        Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy => HealthState.Healthy,
        Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Degraded => HealthState.Degraded,
        _ => HealthState.Unhealthy,
    };
}

/// <summary>Healthy and degraded answer 200; unhealthy answers 503.</summary>
public enum HealthState { Healthy, Degraded, Unhealthy }

/// <summary>The service's health, and each check's.</summary>
public sealed record HealthStatus(HealthState Status, IReadOnlyDictionary<string, HealthCheckStatus> Checks);

/// <summary>One check's status, and what it saw.</summary>
public sealed record HealthCheckStatus(HealthState Status, string? Description);

/// <summary>
/// <c>dotnet FetchApi.dll --healthcheck</c>: asks the running service's /health/ready and exits 0 or 1. The container's
/// HEALTHCHECK uses it, since the runtime image has no curl or wget.
/// </summary>
public static class HealthProbe
{
    public static bool IsRequested(string[] args) => args is ["--healthcheck", ..];

    public static async Task<int> RunAsync()
    {
        var port = (Environment.GetEnvironmentVariable("ASPNETCORE_HTTP_PORTS") ?? "8080").Split(';', ',')[0];
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using var response = await client.GetAsync(new Uri($"http://127.0.0.1:{port}/health/ready"));
            await Console.Out.WriteLineAsync($"/health/ready: {(int)response.StatusCode}");
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            await Console.Out.WriteLineAsync($"/health/ready: {ex.Message}");
            return 1;
        }
    }
}

sealed class StoreHealthCheck(IStore store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await store.CheckAsync(cancellationToken);
            return HealthCheckResult.Healthy("the store answered a write");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Readiness is reachable on the API port: the cause in words, not paths or driver messages (the log has those).
            return HealthCheckResult.Unhealthy((ex as StoreUnavailableException)?.Fault switch
            {
                StoreFault.DiskFull => "the store cannot take writes: the disk is full",
                StoreFault.ReadOnly => "the store cannot take writes: its file is read-only for the service",
                StoreFault.Lost => "the store was lost: its file was deleted or replaced while the service ran",
                StoreFault.Unavailable => "the store cannot take writes now (locked, unreachable or not opened yet)",
                _ => "the store failed a write (the log says why)",
            });
        }
    }
}

sealed class EngineHealthCheck(FetchEngine engine) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(
            !engine.IsRunning ? HealthCheckResult.Unhealthy("the engine is not running")
            : engine.Paused ? HealthCheckResult.Unhealthy("results wait to be written (the store is not taking them): no new fetch starts until it does")
            : engine.HasRoomFor(1) ? HealthCheckResult.Healthy($"{engine.InFlight} fetches in flight, {engine.Backlog} URLs waiting")
            : HealthCheckResult.Unhealthy($"the backlog is full ({engine.Backlog} URLs waiting); POST /batches answers 503"));
}
