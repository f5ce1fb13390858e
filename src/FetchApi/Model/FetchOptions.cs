namespace FetchApi.Model;

/// <summary>
/// The options a batch runs with, as stored and as the engine uses them: the request headers included. Clients see
/// them through <see cref="AsBatchOptions"/>, which leaves the headers out, since they may hold credentials.
/// </summary>
public sealed record FetchOptions
{
    public required int Concurrency { get; init; }
    public required double TimeoutSeconds { get; init; }
    public required int MaxAttempts { get; init; }
    /// <summary>GET or HEAD.</summary>
    public required string Method { get; init; }
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();
    /// <summary>Most request starts per second to one host for this batch; null: the service's ceiling alone.</summary>
    public double? PerHostRequestsPerSecond { get; init; }
    /// <summary>Whether robots.txt is obeyed (rows stored before it existed: no, as then).</summary>
    public bool RespectRobotsTxt { get; init; }
    public required bool IncludeBody { get; init; }
    public required long MaxBodyBytes { get; init; }
    public required bool FollowRedirects { get; init; }
    public required int MaxRedirects { get; init; }
    /// <summary>Read from HTML responses; empty (and absent from rows stored before it existed): nothing.</summary>
    public IReadOnlyList<ExtractField> Extract { get; init; } = [];

    /// <summary>The client's view: everything but the headers.</summary>
    public BatchOptions AsBatchOptions() => new()
    {
        Concurrency = Concurrency, TimeoutSeconds = TimeoutSeconds, MaxAttempts = MaxAttempts, Method = Method,
        PerHostRequestsPerSecond = PerHostRequestsPerSecond, RespectRobotsTxt = RespectRobotsTxt,
        IncludeBody = IncludeBody, MaxBodyBytes = MaxBodyBytes, FollowRedirects = FollowRedirects, MaxRedirects = MaxRedirects,
        Extract = Extract,
    };
}
