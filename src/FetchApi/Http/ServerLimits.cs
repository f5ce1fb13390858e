using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace FetchApi.Http;

public static class ServerLimitsExtensions
{
    public static WebApplicationBuilder AddFetchServerLimits(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<ServerLimitsOptions>(ServerLimitsOptions.Section);
        builder.Services.AddOptions<KestrelServerOptions>().Configure<IOptions<ServerLimitsOptions>, IOptions<RequestLimits>>((k, server, request) =>
        {
            var limits = server.Value;
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = request.Value.MaxBodyBytes;
            k.Limits.RequestHeadersTimeout = limits.RequestHeadersTimeout;
            k.Limits.KeepAliveTimeout = limits.KeepAliveTimeout;
            k.Limits.MaxRequestHeadersTotalSize = limits.MaxRequestHeadersTotalSize;
            k.Limits.MinRequestBodyDataRate = new MinDataRate(limits.MinRequestBodyBytesPerSecond, limits.MinDataRateGracePeriod);
            k.Limits.MaxConcurrentConnections = limits.MaxConcurrentConnections > 0 ? limits.MaxConcurrentConnections : null;
        });
        return builder;
    }
}
