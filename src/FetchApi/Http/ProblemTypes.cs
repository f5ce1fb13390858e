using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FetchApi.Http;

/// <summary>The stable <c>code</c> of every problem FetchApi sends; each has its own <c>type</c> URI, <c>/problems/{code}</c>.</summary>
public enum ProblemCode
{
    ValidationFailed,
    MalformedJson,
    BadRequest,
    Unauthorized,
    NotFound,
    MethodNotAllowed,
    NotAcceptable,
    RequestTimeout,
    BatchCompleted,
    PayloadTooLarge,
    UnsupportedMediaType,
    IdempotencyKeyReused,
    RateLimited,
    InternalError,
    BacklogFull,
    StoreUnavailable,
}

/// <summary>What a problem <c>type</c> URI names: served at <c>GET /problems/{code}</c>.</summary>
/// <param name="Type">The URI problems of this kind carry in <c>type</c> (relative to the service).</param>
/// <param name="Code">The <c>code</c> member of problems of this kind.</param>
/// <param name="Status">The HTTP status problems of this kind come with.</param>
/// <param name="Title">A short summary.</param>
/// <param name="Description">What it means and what a client should do.</param>
public sealed record ProblemType(string Type, ProblemCode Code, int Status, string Title, string Description);

/// <summary>
/// The catalogue of problem types (RFC 9457 §3.1.1: a <c>type</c> URI identifies the kind of problem and, dereferenced,
/// documents it). The URIs are relative references resolved against the service's own address.
/// </summary>
public static class ProblemTypes
{
    public static readonly IReadOnlyList<ProblemType> All =
    [
        Of(ProblemCode.ValidationFailed, 400, "The request has invalid fields",
            "One or more fields are invalid; `errors` maps each field (`urls[3]`, `options.concurrency`, `limit`) to what is wrong. Fix them and send again."),
        Of(ProblemCode.MalformedJson, 400, "The request body is not valid JSON for this endpoint",
            "The body is not JSON, or a field has the wrong JSON type or is unknown; `errors` names the field."),
        Of(ProblemCode.BadRequest, 400, "The request could not be read",
            "The request is malformed at the HTTP level (a bad header, a truncated body)."),
        Of(ProblemCode.Unauthorized, 401, "A valid API key is required",
            "Send 'Authorization: Bearer <key>' with a key from Security:ApiKeys."),
        Of(ProblemCode.NotFound, 404, "Not found",
            "There is no such resource for this client: the batch never existed, was deleted, expired, or belongs to another API key."),
        Of(ProblemCode.MethodNotAllowed, 405, "Method not allowed", "The resource exists but not with this method; `Allow` lists the methods it takes."),
        Of(ProblemCode.NotAcceptable, 406, "Not acceptable", "The resource cannot be represented in a media type the `Accept` header allows."),
        Of(ProblemCode.RequestTimeout, 408, "The request took too long",
            "The request (its body included) did not arrive within the server's limit. Send it again, faster."),
        Of(ProblemCode.BatchCompleted, 409, "The batch already completed", "There is nothing left to cancel: every slot is final."),
        Of(ProblemCode.PayloadTooLarge, 413, "The request body is too large", "The body is larger than Batches:MaxRequestBodyBytes; split the batch."),
        Of(ProblemCode.UnsupportedMediaType, 415, "The request body must be JSON", "Send the body with 'Content-Type: application/json'."),
        Of(ProblemCode.IdempotencyKeyReused, 422, "The Idempotency-Key was used for another request",
            "The key created a batch from a different body within the last 24 h. Use a new key for a new batch."),
        Of(ProblemCode.RateLimited, 429, "Too many requests", "This client exceeded its request rate; wait for `Retry-After` seconds."),
        Of(ProblemCode.InternalError, 500, "Internal error", "A bug on the server's side; the `traceId` identifies the request in the server's logs."),
        Of(ProblemCode.BacklogFull, 503, "The fetch backlog is full",
            "The engine holds as many waiting URLs as it may (Engine:MaxBacklog); wait for `Retry-After` seconds."),
        Of(ProblemCode.StoreUnavailable, 503, "The store cannot accept writes right now",
            "Nothing was stored (locked, read-only or full store); wait for `Retry-After` seconds."),
    ];

    static readonly Dictionary<ProblemCode, ProblemType> ByCode = All.ToDictionary(t => t.Code);

    public static ProblemType For(ProblemCode code) => ByCode[code];

    /// <summary>The wire name of a code: <c>validation_failed</c>.</summary>
    public static string Name(ProblemCode code) => QueryValues.WireName(code);

    /// <summary>The code of a problem the framework raised with only a status (405 from routing, 400 from Kestrel).</summary>
    public static ProblemCode ForStatus(int status) => status switch
    {
        400 => ProblemCode.BadRequest,
        401 => ProblemCode.Unauthorized,
        404 => ProblemCode.NotFound,
        405 => ProblemCode.MethodNotAllowed,
        406 => ProblemCode.NotAcceptable,
        408 => ProblemCode.RequestTimeout,
        413 => ProblemCode.PayloadTooLarge,
        415 => ProblemCode.UnsupportedMediaType,
        429 => ProblemCode.RateLimited,
        503 => ProblemCode.StoreUnavailable,
        _ => ProblemCode.InternalError,
    };

    static ProblemType Of(ProblemCode code, int status, string title, string description) =>
        new($"/problems/{Name(code)}", code, status, title, description);

    /// <summary><c>GET /problems</c> and <c>GET /problems/{code}</c>: what each <c>type</c> URI means.</summary>
    public static IEndpointRouteBuilder MapProblemTypes(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/problems").WithTags("Problems").AnswerHeadLikeGet();
        group.MapGet("/", () => TypedResults.Ok(All)).WithName("ListProblemTypes")
            .WithSummary("Every problem type FetchApi sends, with its code and status");
        group.MapGet("/{code}", Results<Ok<ProblemType>, ProblemHttpResult> (string code) =>
                All.FirstOrDefault(t => Name(t.Code) == code) is { } type
                    ? TypedResults.Ok(type)
                    : Problems.Create(ProblemCode.NotFound, "No such problem type", $"FetchApi sends no problem with code '{code}'; GET /problems lists them."))
            .WithName("GetProblemType")
            .WithSummary("What a problem `type` URI means")
            .ProducesProblems(StatusCodes.Status404NotFound);
        return app;
    }
}

/// <summary>RFC 9457 problem details as FetchApi sends them (the document's schema for every error response).</summary>
public sealed record Problem
{
    /// <summary>Identifies the kind of problem: <c>/problems/{code}</c>, a relative reference to its description.</summary>
    public required string Type { get; init; }
    public required string Title { get; init; }
    public required int Status { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Detail { get; init; }
    /// <summary>The request path.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Instance { get; init; }
    /// <summary>The stable code clients switch on.</summary>
    public required ProblemCode Code { get; init; }
    /// <summary>Per-field errors (<c>urls[3]</c>, <c>options.concurrency</c>, <c>limit</c>) for validation_failed and malformed_json.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, string[]>? Errors { get; init; }
    /// <summary>W3C trace id of the request, as in the server's logs and traces.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? TraceId { get; init; }
}
