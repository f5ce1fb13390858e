using System.ComponentModel.DataAnnotations;

namespace FetchApi.Http;

/// <summary>Per-client request limits (section <c>RateLimiting</c>).</summary>
public sealed class RateLimitingOptions
{
    public const string Section = "RateLimiting";

    [Range(1, 1_000_000)] public int CreatePerSecond { get; set; } = 10;
    [Range(1, 1_000_000)] public int CreateBurst { get; set; } = 20;
    [Range(1, 1_000_000)] public int CheckPerSecond { get; set; } = 5;
    [Range(1, 1_000_000)] public int CheckBurst { get; set; } = 10;
    [Range(1, 1_000_000)] public int ApiPerSecond { get; set; } = 100;
    [Range(1, 1_000_000)] public int ApiBurst { get; set; } = 100;
}
