using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;
using FetchApi.Model;

namespace FetchApi.Batches;

/// <summary>URLs to fetch, and how.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record CreateBatchRequest
{
    /// <summary>Absolute http or https URLs, 1 to <c>Batches:MaxUrlsPerBatch</c>. Duplicates are allowed; each gets its own slot.</summary>
    [Required]
    public List<string?>? Urls { get; init; }

    /// <summary>Optional; every missing field takes the server default.</summary>
    public BatchOptionsRequest? Options { get; init; }

    /// <summary>Optional: where to POST the batch summary when the batch ends, instead of polling.</summary>
    public CallbackRequest? Callback { get; init; }
}

/// <summary>
/// A webhook for the end of the batch. The body is the batch summary; the header
/// <c>FetchApi-Signature: sha256=&lt;hex&gt;</c> is the HMAC-SHA256 of the body with <c>secret</c>.
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record CallbackRequest
{
    /// <summary>Absolute http or https URL; the outbound address policy applies to it as to fetches.</summary>
    [Required]
    public string? Url { get; init; }

    /// <summary>Shared secret for the signature, 16 to 256 characters.</summary>
    [Required]
    public string? Secret { get; init; }
}

/// <summary>Fetch options; each field is optional and bounded by the server maximum.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record BatchOptionsRequest
{
    /// <summary>Most fetches of this batch in flight at once (default 20, max 256).</summary>
    public int? Concurrency { get; init; }
    /// <summary>Timeout of one attempt in seconds: connect, redirects, headers and body (default 10, max 120).</summary>
    public double? TimeoutSeconds { get; init; }
    /// <summary>Attempts per URL, the first included (default 3, max 10).</summary>
    public int? MaxAttempts { get; init; }
    /// <summary>GET (default) or HEAD.</summary>
    public string? Method { get; init; }
    /// <summary>
    /// Most request starts per second to one host (retries and redirect hops included), held across every batch that
    /// shares the host (the strictest wins); bounded by Engine:PerHostRequestsPerSecond. Default: that ceiling alone.
    /// </summary>
    public double? PerHostRequestsPerSecond { get; init; }
    /// <summary>Obey robots.txt (RFC 9309): disallowed URLs fail with <c>robots_disallowed</c>, Crawl-delay slows the host (default: Engine:RespectRobotsTxtDefault).</summary>
    public bool? RespectRobotsTxt { get; init; }
    /// <summary>End-to-end request headers. Hop-by-hop headers, Host, Content-Length and cookies are refused.</summary>
    public Dictionary<string, string?>? Headers { get; init; }
    /// <summary>Return textual bodies in <c>response.body</c> (default false).</summary>
    public bool? IncludeBody { get; init; }
    /// <summary>Most body bytes read after decompression (default 1 MiB, max 10 MiB).</summary>
    public long? MaxBodyBytes { get; init; }
    /// <summary>Follow redirects (default true).</summary>
    public bool? FollowRedirects { get; init; }
    /// <summary>Most redirects followed (default 5, max 20).</summary>
    public int? MaxRedirects { get; init; }
    /// <summary>
    /// What to read from HTML responses into <c>response.extracted</c>: any of <c>title</c>, <c>description</c>,
    /// <c>links</c>, <c>text</c> (default none). The body is read for it whether or not <c>includeBody</c> is set.
    /// </summary>
    public List<string?>? Extract { get; init; }

    /// <summary>These options with the server defaults filled in.</summary>
    public FetchOptions Resolve(BatchLimits limits, bool robotsDefault = false) => new()
    {
        Concurrency = Concurrency ?? limits.DefaultConcurrency,
        TimeoutSeconds = TimeoutSeconds ?? limits.DefaultTimeout.TotalSeconds,
        MaxAttempts = MaxAttempts ?? limits.DefaultMaxAttempts,
        Method = Method?.ToUpperInvariant() ?? "GET",
        PerHostRequestsPerSecond = PerHostRequestsPerSecond,
        RespectRobotsTxt = RespectRobotsTxt ?? robotsDefault,
        Headers = Headers?.ToDictionary(h => h.Key, h => h.Value ?? "") ?? [],
        IncludeBody = IncludeBody ?? false,
        MaxBodyBytes = MaxBodyBytes ?? limits.DefaultMaxBodyBytes,
        FollowRedirects = FollowRedirects ?? true,
        MaxRedirects = MaxRedirects ?? limits.DefaultMaxRedirects,
        Extract = Fields(Extract),
    };

    /// <summary>Each field once, in one order (title, description, links, text), whatever the request's order or repeats.</summary>
    static List<ExtractField> Fields(List<string?>? names)
    {
        var asked = new HashSet<ExtractField>();
        foreach (var name in names ?? [])
        {
            if (ExtractFieldJson.TryParse(name, out var field))
            {
                asked.Add(field.Value);
            }
        }

        return [.. Enum.GetValues<ExtractField>().Where(asked.Contains)];
    }
}

/// <summary>A page of batches, newest first.</summary>
public sealed record BatchList(IReadOnlyList<BatchSummary> Batches, string? Next);
