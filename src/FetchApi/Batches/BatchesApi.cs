using System.Globalization;
using System.Net.ServerSentEvents;
using System.Security.Claims;
using FetchApi.Http;
using FetchApi.Model;
using FetchApi.Security;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace FetchApi.Batches;

public static class BatchesApi
{
    static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(60);

    const string CreateExample = """
        {
          "urls": ["https://example.com/", "https://example.org/a?b=1"],
          "options": { "concurrency": 20, "timeoutSeconds": 10, "maxAttempts": 3, "includeBody": false }
        }
        """;

    public static RouteGroupBuilder MapBatches(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/batches").WithTags("Batches")
            .RequireAuthorization(ApiKeyExtensions.Policy)
            .RequireRateLimiting(RatePolicies.Api)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);

        group.MapPost("/", CreateBatch).WithName("CreateBatch")
            .WithSummary("Submit URLs to fetch")
            .WithDescription("Stores the batch (one result slot per URL, in input order) and answers 202 with its id and a Location header. " +
                             "Poll GET /batches/{id}, stream GET /batches/{id}/events, or give a callback. " +
                             "`Prefer: wait=N` (N ≤ 60) waits up to N s and answers 200 with the results if the batch finished by then. " +
                             "`Idempotency-Key` makes retries safe: the same key and body within 24 h return the same batch.")
            .RequireRateLimiting(RatePolicies.Create)
            .AddEndpointFilter<ValidationFilter<CreateBatchRequest>>()
            .Accepts<CreateBatchRequest>("application/json")
            .WithMetadata(new RequestExample(CreateExample))
            .Produces<BatchDetails>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        group.MapGet("/{id:guid}", GetBatch).WithName("GetBatch")
            .WithSummary("Read a batch's status and one page of its result slots")
            .WithDescription("Slots are ordered by input index. `results=false` returns the summary only (cheap polling); " +
                             "`state` filters slots; `offset`/`limit` page them and `next` links the following page.")
            .Produces<BatchDetails>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);

        group.MapGet("/{id:guid}/events", StreamEvents).WithName("StreamBatchEvents")
            .WithSummary("Follow a batch as Server-Sent Events")
            .WithDescription("Emits `result` (one per slot, as it becomes final; the event id orders them), `progress` (counts) and " +
                             "`done` (the final summary, then the stream ends). Reconnect with `Last-Event-ID` to resume. " +
                             "Try it with `curl -N`.")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);

        group.MapGet("/", ListBatches).WithName("ListBatches")
            .WithSummary("List batches, newest first")
            .ProducesValidationProblem();

        group.MapPost("/{id:guid}/cancel", CancelBatch).WithName("CancelBatch")
            .WithSummary("Cancel a batch: pending slots become cancelled, fetches in flight are aborted, finished slots stay")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        group.MapDelete("/{id:guid}", DeleteBatch).WithName("DeleteBatch")
            .WithSummary("Cancel (if needed) and delete a batch and its results")
            .ProducesProblem(StatusCodes.Status404NotFound);

        return group;
    }

    /// <summary>What every handler needs: the batch service, and who is asking.</summary>
    public sealed record BatchRequest(BatchService Batches, ClaimsPrincipal User)
    {
        public string? Owner => User.Owner();
    }

    /// <param name="request">The URLs and options.</param>
    /// <param name="idempotencyKey">Up to 255 visible ASCII characters; the same key and body within 24 h return the same batch.</param>
    /// <param name="prefer"><c>wait=N</c> (N ≤ 60): wait up to N seconds for the batch to finish.</param>
    /// <param name="context">Injected.</param>
    /// <param name="http">Injected.</param>
    /// <param name="cancellationToken">Injected.</param>
    static async Task<Results<Accepted<BatchSummary>, Ok<BatchDetails>, ValidationProblem, ProblemHttpResult>> CreateBatch(
        CreateBatchRequest request,
        [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey,
        [FromHeader(Name = "Prefer")] string? prefer,
        [AsParameters] BatchRequest context,
        HttpContext http,
        CancellationToken cancellationToken)
    {
        if (idempotencyKey is not null && (idempotencyKey.Length is 0 or > 255 || idempotencyKey.Any(c => c is < '!' or > '~')))
        {
            return Problems.Validation(new() { ["Idempotency-Key"] = ["The Idempotency-Key header must be 1 to 255 visible ASCII characters."] });
        }

        var created = await context.Batches.CreateAsync(request, context.Owner, idempotencyKey, cancellationToken);
        switch (created.Outcome)
        {
            case CreateOutcome.NotAdmitted:
                http.Response.Headers.RetryAfter = "30";
                return Problems.Create(StatusCodes.Status503ServiceUnavailable, "backlog_full", "The fetch backlog is full",
                    $"The engine already holds {created.Backlog} URLs waiting to be fetched; retry after 30 s.");
            case CreateOutcome.KeyReusedWithDifferentRequest:
                return Problems.Create(StatusCodes.Status422UnprocessableEntity, "idempotency_key_reused", "The Idempotency-Key was used for another request",
                    $"This key created batch {created.BatchId} from a different body within the last 24 h. Use a new key for a new batch.");
            case CreateOutcome.Replayed:
                http.Response.Headers["Idempotent-Replayed"] = "true";
                break;
        }

        var location = $"/batches/{created.BatchId}";
        if (PreferredWait(prefer) is { } wait
            && await context.Batches.WaitUntilEndedAsync(created.BatchId, context.Owner, wait, cancellationToken) is { } ended)
        {
            http.Response.Headers["Preference-Applied"] = $"wait={(int)wait.TotalSeconds}";
            http.Response.Headers.Location = location;
            return TypedResults.Ok(Details(ended, null, null));
        }

        return TypedResults.Accepted(location, created.Summary);
    }

    /// <summary><c>Prefer: wait=N</c> (RFC 7240), capped at 60 s; null when absent or malformed.</summary>
    static TimeSpan? PreferredWait(string? prefer)
    {
        foreach (var preference in (prefer ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = preference.Split('=', 2, StringSplitOptions.TrimEntries);
            if (parts.Length == 2 && parts[0].Equals("wait", StringComparison.OrdinalIgnoreCase)
                && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds > 0)
            {
                return TimeSpan.FromSeconds(Math.Min(seconds, MaxWait.TotalSeconds));
            }
        }

        return null;
    }

    static BatchDetails Details(BatchPage page, int? take, string? nextQuery)
    {
        var s = page.Summary;
        string? next = null;
        if (take is > 0 && nextQuery is not null)
        {
            next = $"/batches/{s.Id}?{nextQuery}";
        }
        else if (take is null && page.Slots.Count < page.MatchingSlots)
        {
            next = $"/batches/{s.Id}?offset={page.Slots.Count}&limit={page.Slots.Count}";
        }

        return new BatchDetails
        {
            Id = s.Id, Status = s.Status, CreatedAt = s.CreatedAt, StartedAt = s.StartedAt, CompletedAt = s.CompletedAt,
            Options = s.Options, Counts = s.Counts, Results = page.Slots, Next = next,
        };
    }

    static ProblemHttpResult NotFound(Guid id) =>
        Problems.NotFound("No such batch", $"There is no batch {id} (it may have been deleted or expired).");

    /// <param name="id">Batch id.</param>
    /// <param name="offset">Slots to skip (of the selected state, if any). Default 0.</param>
    /// <param name="limit">Most slots returned, 0 to 1000. Default 1000.</param>
    /// <param name="state">Only slots in this state: pending, fetched, failed or cancelled.</param>
    /// <param name="results">false: the summary only, without slots. Default true.</param>
    /// <param name="context">Injected.</param>
    /// <param name="cancellationToken">Injected.</param>
    static async Task<Results<Ok<BatchSummary>, Ok<BatchDetails>, ValidationProblem, ProblemHttpResult>> GetBatch(
        Guid id,
        [QueryType(typeof(int), Minimum = 0)] string? offset,
        [QueryType(typeof(int), Minimum = 0)] string? limit,
        [QueryType(typeof(SlotState))] string? state,
        [QueryType(typeof(bool), Default = "true")] string? results,
        [AsParameters] BatchRequest context,
        CancellationToken cancellationToken)
    {
        // Query values are parsed here, not bound, so that a bad one is a 400 naming the parameter.
        var maxPage = context.Batches.Limits.MaxPageSize;
        var errors = new Dictionary<string, string[]>();
        var skip = QueryValues.WholeNumber(offset, "offset", 0, 0, int.MaxValue, errors);
        var take = QueryValues.WholeNumber(limit, "limit", maxPage, 0, maxPage, errors);
        var withResults = QueryValues.Flag(results, "results", true, errors);
        var slotState = QueryValues.OneOf<SlotState>(state, "state", errors);
        if (errors.Count > 0)
        {
            return Problems.Validation(errors);
        }

        var queries = context.Batches.Queries;
        if (!withResults)
        {
            return await queries.GetSummaryAsync(id, context.Owner, cancellationToken) is { } summary ? TypedResults.Ok(summary) : NotFound(id);
        }

        if (await queries.GetPageAsync(id, context.Owner, slotState, skip, take, cancellationToken) is not { } page)
        {
            return NotFound(id);
        }

        var nextQuery = take > 0 && (long)skip + take < page.MatchingSlots
            ? $"offset={skip + take}&limit={take}" + (slotState is null ? "" : $"&state={state!.ToLowerInvariant()}")
            : null;
        return TypedResults.Ok(Details(page, take, nextQuery));
    }

    /// <param name="id">Batch id.</param>
    /// <param name="lastEventId">Resume after this event id (sent by EventSource and <c>curl</c> scripts on reconnect).</param>
    /// <param name="context">Injected.</param>
    /// <param name="cancellationToken">Injected.</param>
    static async Task<Results<ServerSentEventsResult<object>, ValidationProblem, ProblemHttpResult>> StreamEvents(
        Guid id, [FromHeader(Name = "Last-Event-ID")] string? lastEventId, [AsParameters] BatchRequest context,
        CancellationToken cancellationToken)
    {
        long after = 0;
        if (lastEventId is not null && !long.TryParse(lastEventId, NumberStyles.None, CultureInfo.InvariantCulture, out after))
        {
            return Problems.Validation(new() { ["Last-Event-ID"] = ["Last-Event-ID must be the id of an event this stream sent."] });
        }

        if (await context.Batches.Queries.GetSummaryAsync(id, context.Owner, cancellationToken) is null)
        {
            return NotFound(id);
        }

        var events = context.Batches.FollowAsync(id, context.Owner, after, cancellationToken)
            .Select(e => new SseItem<object>(e.Data, e.Type) { EventId = e.Sequence.ToString(CultureInfo.InvariantCulture) });
        return TypedResults.ServerSentEvents(events);
    }

    /// <param name="status">Only batches with this status: queued, running, completed or cancelled.</param>
    /// <param name="limit">Most batches returned, 1 to 100. Default 50.</param>
    /// <param name="cursor">The <c>next</c> value of the previous page.</param>
    /// <param name="context">Injected.</param>
    /// <param name="cancellationToken">Injected.</param>
    static async Task<Results<Ok<BatchList>, ValidationProblem>> ListBatches(
        [QueryType(typeof(BatchStatus))] string? status,
        [QueryType(typeof(int), Minimum = 1)] string? limit,
        string? cursor,
        [AsParameters] BatchRequest context,
        CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        var take = QueryValues.WholeNumber(limit, "limit", 50, 1, 100, errors);
        var batchStatus = QueryValues.OneOf<BatchStatus>(status, "status", errors);
        long? before = null;
        if (cursor is not null)
        {
            if (long.TryParse(cursor, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) && parsed > 0)
            {
                before = parsed;
            }
            else
            {
                errors["cursor"] = ["'cursor' must be the 'next' value of a previous page."];
            }
        }

        if (errors.Count > 0)
        {
            return Problems.Validation(errors);
        }

        var page = await context.Batches.Queries.ListAsync(context.Owner, batchStatus, take, before, cancellationToken);
        var next = page.NextCursor is not { } nextCursor
            ? null
            : $"/batches?limit={take}&cursor={nextCursor}" + (batchStatus is null ? "" : $"&status={status!.ToLowerInvariant()}");
        return TypedResults.Ok(new BatchList(page.Batches, next));
    }

    static async Task<Results<Ok<BatchSummary>, ProblemHttpResult>> CancelBatch(Guid id, [AsParameters] BatchRequest context,
        CancellationToken cancellationToken)
    {
        var (outcome, summary) = await context.Batches.CancelAsync(id, context.Owner, cancellationToken);
        return outcome switch
        {
            CancelOutcome.NotFound => NotFound(id),
            CancelOutcome.AlreadyCompleted => Problems.Create(StatusCodes.Status409Conflict, "batch_completed", "The batch already completed",
                $"Batch {id} completed at {summary!.CompletedAt:O}; there is nothing left to cancel."),
            _ => TypedResults.Ok(summary!),
        };
    }

    static async Task<Results<NoContent, ProblemHttpResult>> DeleteBatch(Guid id, [AsParameters] BatchRequest context,
        CancellationToken cancellationToken) =>
        await context.Batches.DeleteAsync(id, context.Owner, cancellationToken) ? TypedResults.NoContent() : NotFound(id);
}
