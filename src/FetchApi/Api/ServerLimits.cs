using System.ComponentModel.DataAnnotations;
using FetchApi.Batches;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace FetchApi.Api;

/// <summary>Kestrel limits (section <c>Server</c>): a slow or greedy client cannot hold the API.</summary>
public sealed class ServerLimitsOptions
{
    public const string Section = "Server";

    /// <summary>Time a client has to send all request headers.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")] public TimeSpan RequestHeadersTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Idle time before a kept-alive connection is closed.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")] public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Slowest request body accepted, after the grace period (slow-loris protection).</summary>
    [Range(1, 1_000_000_000)] public double MinRequestBodyBytesPerSecond { get; set; } = 240;

    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")] public TimeSpan MinDataRateGracePeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Largest request header block.</summary>
    [Range(1024, 1024 * 1024)] public int MaxRequestHeadersTotalSize { get; set; } = 32 * 1024;

    /// <summary>Most open connections; 0 for no limit.</summary>
    [Range(0, 1_000_000)] public long MaxConcurrentConnections { get; set; }
}

public static class ServerLimitsExtensions
{
    public static WebApplicationBuilder AddFetchServerLimits(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<ServerLimitsOptions>(ServerLimitsOptions.Section);

        var limits = builder.Configuration.GetSection(ServerLimitsOptions.Section).Get<ServerLimitsOptions>() ?? new ServerLimitsOptions();
        var maxBody = builder.Configuration.GetSection(BatchLimits.Section).Get<BatchLimits>()?.MaxRequestBodyBytes ?? new BatchLimits().MaxRequestBodyBytes;
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = maxBody;
            k.Limits.RequestHeadersTimeout = limits.RequestHeadersTimeout;
            k.Limits.KeepAliveTimeout = limits.KeepAliveTimeout;
            k.Limits.MaxRequestHeadersTotalSize = limits.MaxRequestHeadersTotalSize;
            k.Limits.MinRequestBodyDataRate = new MinDataRate(limits.MinRequestBodyBytesPerSecond, limits.MinDataRateGracePeriod);
            k.Limits.MaxConcurrentConnections = limits.MaxConcurrentConnections > 0 ? limits.MaxConcurrentConnections : null;
        });
        return builder;
    }
}
