using System.ComponentModel.DataAnnotations;

namespace FetchApi.Http;

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

    /// <summary>
    /// Longest a POST may take, from its first byte to its answer (its body included, and a <c>Prefer: wait</c> of up to
    /// 60 s): a client trickling a body just above the minimum data rate cannot hold a request for hours. 408 on expiry.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")] public TimeSpan PostTimeout { get; set; } = TimeSpan.FromSeconds(90);

    /// <summary>Most open connections; 0 for no limit.</summary>
    [Range(0, 1_000_000)] public long MaxConcurrentConnections { get; set; }
}
