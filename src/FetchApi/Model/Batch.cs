using System.Text.Json.Serialization;

namespace FetchApi.Model;

// The shapes every feature shares. Batches serves them, Engine produces them, Storage keeps them.

/// <summary>Lifecycle of a batch: queued → running → completed | cancelled.</summary>
public enum BatchStatus { Queued = 0, Running = 1, Completed = 2, Cancelled = 3 }

/// <summary>State of one result slot. Only <c>pending</c> is not final.</summary>
public enum SlotState { Pending = 0, Fetched = 1, Failed = 2, Cancelled = 3 }

/// <summary>Why a slot has no usable response. The set is stable: clients may switch on it.</summary>
public enum FetchErrorCode
{
    /// <summary>The host resolved to an address the outbound policy refuses (loopback, private, link-local, ...).</summary>
    BlockedAddress = 1,
    /// <summary>The host name could not be resolved.</summary>
    DnsFailure = 2,
    /// <summary>The server refused the TCP connection.</summary>
    ConnectionRefused = 3,
    /// <summary>The connection was reset or closed while the request or response was in flight.</summary>
    ConnectionReset = 4,
    /// <summary>No complete response within the attempt timeout (connect, headers and body).</summary>
    Timeout = 5,
    /// <summary>The TLS handshake failed (untrusted certificate, protocol mismatch).</summary>
    TlsError = 6,
    /// <summary>More redirects than <c>maxRedirects</c>, or a redirect loop.</summary>
    TooManyRedirects = 7,
    /// <summary>The body exceeded <c>maxBodyBytes</c> after decompression; reading stopped at the cap.</summary>
    BodyTooLarge = 8,
    /// <summary>The server broke HTTP (bad status line, oversized headers, short body, bad redirect).</summary>
    ProtocolError = 9,
    /// <summary>A bug on our side; the message says what happened.</summary>
    InternalError = 10,
}

/// <summary>The options a batch runs with, after server defaults were applied, as clients see them (request headers left out).</summary>
public sealed record BatchOptions
{
    /// <summary>Most fetches of this batch in flight at once.</summary>
    public required int Concurrency { get; init; }
    /// <summary>Timeout of one attempt (connect, redirects, headers and body), in seconds.</summary>
    public required double TimeoutSeconds { get; init; }
    /// <summary>Attempts per URL, the first included.</summary>
    public required int MaxAttempts { get; init; }
    /// <summary>HTTP method: GET or HEAD.</summary>
    public required string Method { get; init; }
    /// <summary>Whether textual bodies are returned in <c>response.body</c>.</summary>
    public required bool IncludeBody { get; init; }
    /// <summary>Most body bytes read (after decompression) before the slot fails with <c>body_too_large</c>.</summary>
    public required long MaxBodyBytes { get; init; }
    /// <summary>Whether 301/302/303/307/308 responses are followed.</summary>
    public required bool FollowRedirects { get; init; }
    /// <summary>Most redirects followed before the slot fails with <c>too_many_redirects</c>.</summary>
    public required int MaxRedirects { get; init; }
}

/// <summary>Slot counts. <c>total == pending + fetched + failed + cancelled</c> at every moment.</summary>
public sealed record BatchCounts(int Total, int Pending, int Fetched, int Failed, int Cancelled)
{
    /// <summary>How many slots are in <paramref name="state"/> (all of them for null).</summary>
    public int Of(SlotState? state) => state switch
    {
        null => Total,
        SlotState.Pending => Pending,
        SlotState.Fetched => Fetched,
        SlotState.Failed => Failed,
        _ => Cancelled,
    };
}

/// <summary>A batch without its result slots.</summary>
public record BatchSummary
{
    /// <summary>Batch id (UUID v7: ids sort by creation time).</summary>
    public required Guid Id { get; init; }
    public required BatchStatus Status { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    /// <summary>When the first fetch started; null while queued.</summary>
    public DateTimeOffset? StartedAt { get; init; }
    /// <summary>When the batch became completed or cancelled; null before.</summary>
    public DateTimeOffset? CompletedAt { get; init; }
    public required BatchOptions Options { get; init; }
    public required BatchCounts Counts { get; init; }
}

/// <summary>
/// A batch, and one page of its result slots (in input order) when they were asked for: every success of
/// <c>POST /batches</c> (202 without results, 200 with) and of <c>GET /batches/{id}</c> has this shape.
/// </summary>
public sealed record BatchDetails : BatchSummary
{
    /// <summary>Result slots of this page, ordered by <c>index</c>. Absent on 202 and with <c>results=false</c>.</summary>
    [JsonPropertyOrder(1)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<SlotResult>? Results { get; init; }
    /// <summary>
    /// Relative URI of the next page of slots (resolve it against the service's address), or null when this page is the
    /// last or holds no results. A typed client gets the same page by calling again with <c>after</c> = the last <c>index</c>.
    /// </summary>
    [JsonPropertyOrder(2)]
    public string? Next { get; init; }
}

/// <summary>One input URL and what became of it.</summary>
public sealed record SlotResult
{
    /// <summary>Position of the URL in the submitted <c>urls</c> list.</summary>
    public required int Index { get; init; }
    public required string Url { get; init; }
    public required SlotState State { get; init; }
    /// <summary>Attempts made so far (0 while pending).</summary>
    public int Attempts { get; init; }
    /// <summary>Time from the first attempt's start to the slot's end, retries and backoff included.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? DurationMs { get; init; }
    /// <summary>The HTTP response, when one arrived (any status code).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public FetchResponse? Response { get; init; }
    /// <summary>Why there is no usable response.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public FetchError? Error { get; init; }
}

/// <summary>The response of the last attempt.</summary>
public sealed record FetchResponse
{
    public required int StatusCode { get; init; }
    public string? ReasonPhrase { get; init; }
    /// <summary>URL that produced this response, after redirects.</summary>
    public required string FinalUrl { get; init; }
    /// <summary>Redirects followed to reach <c>finalUrl</c>.</summary>
    public int Redirects { get; init; }
    public string? ContentType { get; init; }
    /// <summary>Body bytes read, after decompression.</summary>
    public long ContentLength { get; init; }
    /// <summary>SHA-256 of the body bytes read, lowercase hex.</summary>
    public required string Sha256 { get; init; }
    /// <summary>The body as text, when <c>includeBody</c> is true and the content type is textual.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Body { get; init; }
}

/// <summary>A typed fetch error.</summary>
public sealed record FetchError(FetchErrorCode Code, string Message);
