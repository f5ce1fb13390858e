using System.ComponentModel.DataAnnotations;
using FetchApi.Urls;

namespace FetchApi.Batches;

/// <summary>What one request may ask for, and the defaults for what it leaves out (section <c>Batches</c>).</summary>
public sealed class BatchLimits
{
    public const string Section = "Batches";

    [Range(1, 1_000_000)] public int MaxUrlsPerBatch { get; set; } = 10_000;
    [Range(16, 65_536)] public int MaxUrlLength { get; set; } = 8_192;
    [Range(1024, 1L << 30)] public long MaxRequestBodyBytes { get; set; } = 8L * 1024 * 1024;

    [Range(1, 4096)] public int DefaultConcurrency { get; set; } = 20;
    [Range(1, 4096)] public int MaxConcurrency { get; set; } = 256;

    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")] public TimeSpan DefaultTimeout { get; set; } = TimeSpan.FromSeconds(10);
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")] public TimeSpan MaxTimeout { get; set; } = TimeSpan.FromSeconds(120);

    [Range(1, 100)] public int DefaultMaxAttempts { get; set; } = 3;
    [Range(1, 100)] public int MaxAttemptsLimit { get; set; } = 10;

    [Range(0, 1L << 32)] public long DefaultMaxBodyBytes { get; set; } = 1L * 1024 * 1024;
    [Range(0, 1L << 32)] public long MaxBodyBytesLimit { get; set; } = 10L * 1024 * 1024;

    [Range(0, 100)] public int DefaultMaxRedirects { get; set; } = 5;
    [Range(0, 100)] public int MaxRedirectsLimit { get; set; } = 20;

    /// <summary>Most result slots in one page of <c>GET /batches/{id}</c>.</summary>
    [Range(1, 100_000)] public int MaxPageSize { get; set; } = 1000;

    /// <summary>Longest quiet time on an event stream before a keep-alive comment is sent.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:10:00")] public TimeSpan EventsKeepAlive { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>The URL limits, as <c>POST /urls/check</c> applies them too.</summary>
    public UrlLimits UrlLimits() => new() { MaxUrls = MaxUrlsPerBatch, MaxUrlLength = MaxUrlLength };
}
