using FetchApi.Model;
using Npgsql;
using Microsoft.Extensions.Logging.Console;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace FetchApi.Telemetry;

public static class TelemetryExtensions
{
    /// <summary>
    /// Metrics and traces through OpenTelemetry: the FetchApi meter and activity source, ASP.NET Core, HttpClient and
    /// runtime instrumentation; OTLP export when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set, Prometheus at /metrics
    /// when <c>Telemetry:Prometheus</c> is true. Logs: JSON lines with scopes outside Development.
    /// </summary>
    public static WebApplicationBuilder AddFetchTelemetry(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<TelemetryOptions>(TelemetryOptions.Section);
        builder.Services.AddSingleton<FetchMetrics>();

        var telemetry = builder.Configuration.GetSection(TelemetryOptions.Section).Get<TelemetryOptions>() ?? new TelemetryOptions();
        var otlp = !string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        // The node's name (Engine:NodeId) is service.instance.id on every metric and span: nodes of a cluster tell apart.
        var nodeId = builder.Configuration["Engine:NodeId"] is { Length: > 0 } configured ? configured : NodeName.Default;
        var otel = builder.Services.AddOpenTelemetry().ConfigureResource(r => r.AddService("fetchapi", serviceInstanceId: nodeId));

        // Metrics are aggregated only when something reads them: with neither Prometheus nor OTLP, a meter provider would
        // still listen to every instrument and aggregate a tagged measurement per fetch, per HTTP request of the fetch
        // client and per API request, for nobody (issue 16). dotnet-counters reads the meters without it.
        if (telemetry.Prometheus || otlp)
        {
            otel.WithMetrics(metrics =>
            {
                metrics.AddMeter(FetchMetrics.MeterName).AddAspNetCoreInstrumentation().AddHttpClientInstrumentation().AddRuntimeInstrumentation();
                if (telemetry.Prometheus)
                {
                    metrics.AddPrometheusExporter();
                }

                if (otlp)
                {
                    metrics.AddOtlpExporter();
                }
            });
        }

        // Spans are recorded only when something receives them: with no exporter, a tracer would sample and fill an
        // activity per request and per fetch for nothing, on the hot path.
        if (otlp)
        {
            otel.WithTracing(tracing => tracing
                .AddSource(FetchTracing.SourceName)
                .AddAspNetCoreInstrumentation(o => o.Filter = context => !context.Request.Path.StartsWithSegments("/health"))
                .AddHttpClientInstrumentation()
                .AddNpgsql()
                .AddOtlpExporter());
        }

        // ASP.NET Core's "Request starting" lines carry full URLs, query strings included: never at Information.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.Warning);

        if (builder.Environment.IsDevelopment())
        {
            // dotnet run (the Development launch profile): one readable line per entry.
            builder.Services.Configure<ConsoleLoggerOptions>(o => o.FormatterName = ConsoleFormatterNames.Simple);
            builder.Services.Configure<SimpleConsoleFormatterOptions>(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
            });
        }
        else
        {
            // One JSON object per line, with the batch id and slot index from scopes: what log shippers expect.
            builder.Services.Configure<ConsoleLoggerOptions>(o => o.FormatterName = ConsoleFormatterNames.Json);
            builder.Services.Configure<JsonConsoleFormatterOptions>(o =>
            {
                o.IncludeScopes = true;
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
        }

        return builder;
    }

    public static WebApplication MapFetchMetrics(this WebApplication app)
    {
        if (app.Configuration.GetSection(TelemetryOptions.Section).Get<TelemetryOptions>()?.Prometheus == true)
        {
            app.MapPrometheusScrapingEndpoint("/metrics");
        }

        return app;
    }
}
