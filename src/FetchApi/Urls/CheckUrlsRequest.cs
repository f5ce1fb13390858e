using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;

namespace FetchApi.Urls;

/// <summary>URLs to check against the rules and the address policy, without fetching them.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record CheckUrlsRequest
{
    /// <summary>The URLs, as for <c>POST /batches</c>: 1 to <c>Batches:MaxUrlsPerBatch</c>, any strings (each gets a verdict).</summary>
    [Required]
    public List<string?>? Urls { get; init; }

    /// <summary>Also resolve host names (DNS only, nothing is connected to) and judge every address (default false).</summary>
    public bool? Resolve { get; init; }
}

/// <summary>What would happen to a URL if it were submitted.</summary>
public enum UrlVerdict
{
    /// <summary>It would be fetched: valid, and no address it stands for is refused (names: see <c>reason</c>).</summary>
    Allowed = 1,
    /// <summary>It would fail with <c>blocked_address</c>: the outbound address policy refuses an address it stands for.</summary>
    Blocked = 2,
    /// <summary><c>POST /batches</c> would refuse it with a 400; <c>reason</c> says which rule.</summary>
    Invalid = 3,
}

/// <summary>The verdict on one input URL. Every field is always present; those that do not apply are null.</summary>
public sealed record UrlCheck
{
    /// <summary>Position in <c>urls</c>, from 0.</summary>
    public required int Index { get; init; }
    /// <summary>The URL as given.</summary>
    public required string? Url { get; init; }
    public required UrlVerdict Verdict { get; init; }
    /// <summary>Why, for people: the rule broken, or the address and the range it is in (<c>127.0.0.1 is in 127.0.0.0/8 (loopback)</c>).</summary>
    public required string Reason { get; init; }
    /// <summary>The URL as the engine requests it (see the endpoint description); null when invalid.</summary>
    public required string? Normalized { get; init; }
    /// <summary>The host connected to: punycode name or IP address (IPv6 without brackets); null when invalid.</summary>
    public required string? Host { get; init; }
    /// <summary>The port connected to, default ports included; null when invalid.</summary>
    public required int? Port { get; init; }
    /// <summary>Index of the first input with the same normalized URL; null for a first occurrence or an invalid URL.</summary>
    public required int? DuplicateOf { get; init; }
    /// <summary>The addresses judged: the literal address, loopback for <c>localhost</c>, or what the name resolved to; null when not known (a name without <c>resolve</c>).</summary>
    public required IReadOnlyList<string>? Addresses { get; init; }
}

/// <summary>Verdict counts. <c>total == allowed + blocked + invalid</c>; <c>duplicates</c> counts entries with a <c>duplicateOf</c>.</summary>
public sealed record UrlCheckCounts(int Total, int Allowed, int Blocked, int Invalid, int Duplicates);

/// <summary>One verdict per input URL, in input order.</summary>
public sealed record UrlCheckReport(UrlCheckCounts Counts, IReadOnlyList<UrlCheck> Results)
{
    public static UrlCheckReport Of(IReadOnlyList<UrlCheck> results) => new(
        new UrlCheckCounts(
            results.Count,
            results.Count(r => r.Verdict == UrlVerdict.Allowed),
            results.Count(r => r.Verdict == UrlVerdict.Blocked),
            results.Count(r => r.Verdict == UrlVerdict.Invalid),
            results.Count(r => r.DuplicateOf is not null)),
        results);
}
