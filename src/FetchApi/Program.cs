using FetchApi;
using FetchApi.Batches;
using FetchApi.Callbacks;
using FetchApi.Engine;
using FetchApi.Hosting;
using FetchApi.Http;
using FetchApi.Security;
using FetchApi.Storage;
using FetchApi.Telemetry;
using FetchApi.Urls;

if (HealthProbe.IsRequested(args))
{
    return await HealthProbe.RunAsync(); // the container's HEALTHCHECK: no curl in the runtime image
}

try
{
    var builder = WebApplication.CreateBuilder(args);

    builder.AddFetchServerLimits();    // Kestrel body size, header timeout, minimum data rate
    builder.AddFetchProblemDetails();  // RFC 9457 for every error, 4xx for every bad request
    builder.AddFetchStorage();         // SQLite file by default, one implementation per store role
    builder.AddFetchSecurity();        // outbound address policy
    builder.AddFetchApiKeys();         // Authorization: Bearer <key>; batches belong to the key that created them
    builder.AddFetchEngine();          // scheduler, fetcher with its Polly pipeline, result writer
    builder.AddFetchCallbacks();       // signed callbacks when a batch ends
    builder.AddFetchBatches();         // batch service, limits, validators, JSON contract
    builder.AddFetchUrls();            // POST /urls/check: verdicts without fetching (the batch's URL rules, address policy)
    builder.AddFetchRateLimiting();    // per-client limits, 429 + Retry-After
    builder.AddFetchHealthChecks();    // /health/live, /health/ready
    builder.AddFetchOpenApi();         // Swashbuckle, Swagger UI at /swagger
    builder.AddFetchTelemetry();       // FetchApi meter and traces via OpenTelemetry (OTLP, Prometheus); JSON logs
    builder.AddFetchLifetime();        // start: schema, writer, engine, callbacks; stop in reverse, the engine drained first

    var app = builder.Build();

    app.UseFetchProblemDetails();
    app.UseFetchServerLimits();
    app.UseFetchApiKeys();
    app.UseRateLimiter();
    app.UseFetchOpenApi();
    app.MapBatches();
    app.MapUrls();
    app.MapFetchHealthChecks();
    app.MapFetchMetrics();

    await app.RunAsync();
    return 0;
}
catch (Exception ex) when (ValidatedOptions.StartupError(ex) is { } error)
{
    // A configuration mistake: one line naming the key, not a stack trace, and a non-zero exit.
    await Console.Error.WriteLineAsync(error);
    return 1;
}
