using System.Text.Json;
using FetchApi.Engine;
using FetchApi.Storage;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
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
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = WriteJson })
            .WithTags("Health").WithSummary("Whether the process is up");
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready"), ResponseWriter = WriteJson })
            .WithTags("Health").WithSummary("Whether the store accepts writes and the engine has room");
        return app;
    }

    static Task WriteJson(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(JsonSerializer.Serialize(new
        {
            status = report.Status.ToString().ToLowerInvariant(),
            checks = report.Entries.ToDictionary(
                e => e.Key,
                e => new { status = e.Value.Status.ToString().ToLowerInvariant(), description = e.Value.Description }),
        }));
    }
}

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
            return HealthCheckResult.Unhealthy($"the store failed a write: {ex.Message}");
        }
    }
}

sealed class EngineHealthCheck(FetchEngine engine) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(
            !engine.IsRunning ? HealthCheckResult.Unhealthy("the engine is not running")
            : engine.HasRoomFor(1) ? HealthCheckResult.Healthy($"{engine.InFlight} fetches in flight, {engine.Backlog} URLs waiting")
            : HealthCheckResult.Unhealthy($"the backlog is full ({engine.Backlog} URLs waiting); POST /batches answers 503"));
}
