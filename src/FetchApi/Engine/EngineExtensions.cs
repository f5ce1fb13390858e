using System.Net;
using FetchApi.Security;
using Microsoft.Extensions.Options;

namespace FetchApi.Engine;

public static class EngineExtensions
{
    public static WebApplicationBuilder AddFetchEngine(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<EngineOptions>(EngineOptions.Section);
        builder.Services.PostConfigure<EngineOptions>(o =>
        {
            o.NodeId = string.IsNullOrWhiteSpace(o.NodeId) ? Model.NodeName.Default : o.NodeId;
            o.UserAgent = string.IsNullOrWhiteSpace(o.UserAgent) ? Politeness.DefaultUserAgent : o.UserAgent.Trim();
            o.CpuWorkers = o.CpuWorkers == 0 ? Environment.ProcessorCount : o.CpuWorkers;
        });

        // One shared handler for every fetch: pooled connections, and the address policy at connect time.
        builder.Services.AddHttpClient(Fetcher.ClientName, (services, client) =>
            {
                client.Timeout = Timeout.InfiniteTimeSpan; // Polly owns the per-attempt timeout.
                // robots.txt and callbacks; the fetcher, which sends through the handler alone, adds it to each request
                // unless the batch sets its own.
                client.DefaultRequestHeaders.TryAddWithoutValidation("User-Agent", services.GetRequiredService<IOptions<EngineOptions>>().Value.UserAgent);
            })
            .ConfigurePrimaryHttpMessageHandler(services =>
            {
                var engine = services.GetRequiredService<IOptions<EngineOptions>>().Value;
                return new SocketsHttpHandler
                {
                    AllowAutoRedirect = false, // we follow redirects to count them and re-check every hop
                    AutomaticDecompression = DecompressionMethods.All,
                    UseCookies = false,
                    UseProxy = false, // a proxy would make the connect-time address check meaningless
                    ConnectTimeout = engine.ConnectTimeout,
                    MaxResponseHeadersLength = engine.MaxResponseHeadersKiB,
                    PooledConnectionLifetime = TimeSpan.FromMinutes(5),
                    PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
                    ConnectCallback = services.GetRequiredService<AddressPolicy>().ConnectAsync,
                    // Browsers read a Location header's bytes as UTF-8; HttpClient would read them as Latin-1.
                    ResponseHeaderEncodingSelector = (name, _) =>
                        name.Equals("Location", StringComparison.OrdinalIgnoreCase) ? System.Text.Encoding.UTF8 : null,
                };
            })
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan)
            .RemoveAllLoggers(); // no per-request log lines on the hot path

        builder.Services.AddSingleton<Rates.HostRates>();
        builder.Services.AddSingleton<RobotsCache>();
        // Idle hosts' rates and robots.txt given back, every second.
        builder.Services.AddSingleton<Hosts.IHostTable>(services => services.GetRequiredService<Rates.HostRates>());
        builder.Services.AddSingleton<Hosts.IHostTable>(services => services.GetRequiredService<RobotsCache>());
        builder.Services.AddHostedService<Hosts.HostSweeper>();
        builder.Services.AddSingleton<Politeness>();
        builder.Services.AddSingleton<Fetcher>();
        builder.Services.AddSingleton<BatchChanges>();
        // Started and stopped by Hosting/Lifetime, in a stated order: not hosted services of their own.
        builder.Services.AddSingleton<ResultWriter>();
        builder.Services.AddSingleton<CpuStage>();
        builder.Services.AddSingleton<FetchEngine>();
        return builder;
    }
}
