using System.ComponentModel.DataAnnotations;

namespace FetchApi.Urls;

/// <summary>How <c>POST /urls/check</c> resolves names when asked to (section <c>UrlCheck</c>: not <c>Urls</c>, which is the host's own <c>urls</c> setting, as in <c>--urls</c> and <c>ASPNETCORE_URLS</c>).</summary>
public sealed class UrlCheckOptions
{
    public const string Section = "UrlCheck";

    /// <summary>Longest wait for one DNS answer.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")] public TimeSpan ResolveTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>DNS lookups of one request in flight at once.</summary>
    [Range(1, 256)] public int ResolveConcurrency { get; set; } = 16;

    /// <summary>Longest time one request spends resolving; names not resolved by then are reported as such.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")] public TimeSpan ResolveBudget { get; set; } = TimeSpan.FromSeconds(30);
}
