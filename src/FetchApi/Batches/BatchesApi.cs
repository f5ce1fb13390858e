using System.Globalization;
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

    /// <summary>How long an EventSource waits before it reconnects (the stream's <c>retry:</c> field).</summary>
    static readonly TimeSpan EventRetry = TimeSpan.FromSeconds(3);

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
            // 503 store_unavailable: any operation reads or writes the store, which may be locked, full or lost.
            .ProducesProblems(StatusCodes.Status401Unauthorized, StatusCodes.Status429TooManyRequests, StatusCodes.Status503ServiceUnavailable)
            .AnswerHeadLikeGet()
            // Until the store has opened (a start on a read-only or unreachable store), every operation is that 503.
            .AddEndpointFilter((context, next) =>
            {
                context.HttpContext.RequestServices.GetRequiredService<StoreOpening>().EnsureOpen();
                return next(context);
            });

        group.MapPost("/", CreateBatch).WithName("CreateBatch")
            .WithSummary("Submit URLs to fetch")
            .WithDescription("Stores the batch (one result slot per URL, in input order) and answers 202 with the batch (without " +
                             "results) and a Location header. Poll GET /batches/{id}, stream GET /batches/{id}/events, or give a callback. " +
                             "`Prefer: wait=N` (N ≤ 60) waits up to N s and answers 200 with the same shape, holding the first page of " +
                             "results, if the batch finished by then. `Idempotency-Key` makes retries safe: the same key and body within " +
                             "24 h return the same batch.")
            .RequireRateLimiting(RatePolicies.Create)
            .WithPostTimeout()
            .AddEndpointFilter<ValidationFilter<CreateBatchRequest>>()
            .Accepts<CreateBatchRequest>("application/json")
            .WithMetadata(new RequestExample(CreateExample))
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType,
                StatusCodes.Status422UnprocessableEntity, StatusCodes.Status503ServiceUnavailable);

        group.MapGet("/{id:guid}", GetBatch).WithName("GetBatch")
            .WithSummary("Read a batch's status and one page of its result slots")
            .WithDescription("Slots are ordered by input index. `results=false` returns the batch without `results` (cheap polling); " +
                             "`state` keeps the slots in one state; `after`/`limit` page them by position, and `next` is the " +
                             "relative URI of the following page (null on the last). A typed client follows `next` by calling again " +
                             "with `after` set to the last result's `index`. A walk returns every slot that stays in the state exactly once.")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);

        group.MapGet("/{id:guid}/events", StreamEvents).WithName("StreamBatchEvents")
            .WithSummary("Follow a batch as Server-Sent Events")
            .WithDescription("A `text/event-stream`: `retry:` first, then `result` (one per slot, as it becomes final; data: a SlotResult), " +
                             "`progress` (data: the batch without results) and `done` (data: the final batch without results; the stream " +
                             "ends). Comment lines (`: keep-alive`) keep a quiet stream open. Reconnect with `Last-Event-ID` to resume; " +
                             "a reconnect after `done` gets 204 No Content, which tells an EventSource to stop. Try it with `curl -N`.")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);

        group.MapGet("/{id:guid}/results", ExportResults).WithName("ExportResults")
            .WithSummary("Every result slot, in input order, as one NDJSON stream")
            .WithDescription("`application/x-ndjson`: one SlotResult per line, in index order, optionally of one `state`, however large " +
                             "the batch (no paging). While the batch runs, its pending slots appear as pending. " +
                             "Try it with `curl -N $H/batches/$id/results | jq -c .`.")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);

        group.MapGet("/", ListBatches).WithName("ListBatches")
            .WithSummary("List batches, newest first")
            .ProducesProblems(StatusCodes.Status400BadRequest);

        group.MapPost("/{id:guid}/cancel", CancelBatch).WithName("CancelBatch").WithPostTimeout()
            .WithSummary("Cancel a batch: pending slots become cancelled, fetches in flight are aborted, finished slots stay")
            .ProducesProblems(StatusCodes.Status404NotFound, StatusCodes.Status409Conflict);

        group.MapDelete("/{id:guid}", DeleteBatch).WithName("DeleteBatch")
            .WithSummary("Cancel (if needed) and delete a batch and its results")
            .ProducesProblems(StatusCodes.Status404NotFound);

        return group;
    }

    /// <summary>What every handler needs: the batch service, and who is asking.</summary>
    public sealed record BatchRequest(BatchService Batches, ClaimsPrincipal User)
    {
        public string? Owner => User.Owner();
    }

    /// <param name="request">The URLs and options.</param>
    /// <param name="idempotencyKey">1 to 255 visible ASCII characters, bare or as a structured-field string (<c>"k"</c> and <c>k</c> are the same key); the same key and body within 24 h return the same batch.</param>
    /// <param name="prefer"><c>wait=N</c> (RFC 7240; N ≤ 60): wait up to N seconds for the batch to finish.</param>
    /// <param name="context">Injected.</param>
    /// <param name="http">Injected.</param>
    /// <param name="cancellationToken">Injected.</param>
    static async Task<Results<Accepted<BatchDetails>, Ok<BatchDetails>, ValidationProblem, ProblemHttpResult>> CreateBatch(
        CreateBatchRequest request,
        [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey,
        [FromHeader(Name = "Prefer")] string? prefer,
        [AsParameters] BatchRequest context,
        HttpContext http,
        CancellationToken cancellationToken)
    {
        // Whether a wait was asked for changes the answer: caches must key on Prefer.
        http.Response.Headers.Vary = "Prefer";
        var key = idempotencyKey is null ? null : Preferences.IdempotencyKey(idempotencyKey);
        if (idempotencyKey is not null && key is null)
        {
            return Problems.Validation(new()
            {
                ["Idempotency-Key"] = ["The Idempotency-Key header must be 1 to 255 visible ASCII characters, bare or as a quoted string."],
            });
        }

        if (request.Urls!.Count > context.Batches.MaxAdmissibleUrls)
        {
            return Problems.Validation(new()
            {
                ["urls"] = [$"'urls' holds {request.Urls.Count} URLs, more than this service can ever hold waiting at once " +
                            $"({context.Batches.MaxAdmissibleUrls}, Engine:MaxBacklog). Split the batch."],
            });
        }

        var created = await context.Batches.CreateAsync(request, context.Owner, key, cancellationToken);
        switch (created.Outcome)
        {
            case CreateOutcome.NotAdmitted:
                http.Response.Headers.RetryAfter = "30";
                return Problems.Create(ProblemCode.BacklogFull, "The fetch backlog is full",
                    $"The engine already holds {created.Backlog} URLs waiting to be fetched; retry after 30 s.");
            case CreateOutcome.KeyReusedWithDifferentRequest:
                return Problems.Create(ProblemCode.IdempotencyKeyReused, "The Idempotency-Key was used for another request",
                    $"This key created batch {created.BatchId} from a different body within the last 24 h. Use a new key for a new batch.");
            case CreateOutcome.Replayed:
                http.Response.Headers["Idempotent-Replayed"] = "true";
                break;
        }

        var location = $"/batches/{created.BatchId}";
        if (Preferences.Wait(prefer, MaxWait) is { } wait
            && await context.Batches.WaitUntilEndedAsync(created.BatchId, context.Owner, wait, cancellationToken) is { } ended)
        {
            http.Response.Headers["Preference-Applied"] = $"wait={(int)wait.TotalSeconds}";
            http.Response.Headers.Location = location;
            return TypedResults.Ok(Details(ended, context.Batches.Limits.MaxPageSize, null));
        }

        return TypedResults.Accepted(location, Details(created.Summary!));
    }

    /// <summary>The batch without results (202, <c>results=false</c>).</summary>
    static BatchDetails Details(BatchSummary s) => new()
    {
        Id = s.Id, Status = s.Status, CreatedAt = s.CreatedAt, StartedAt = s.StartedAt, CompletedAt = s.CompletedAt,
        Options = s.Options, Counts = s.Counts,
    };

    /// <summary>The batch with one page of results, and the relative URI of the next page when more slots follow.</summary>
    static BatchDetails Details(BatchPage page, int limit, SlotState? state) => Details(page.Summary) with
    {
        Results = page.Slots,
        Next = page is { More: true, Slots: [.., var last] }
            ? $"/batches/{page.Summary.Id}?after={last.Index}&limit={limit}" + (state is null ? "" : $"&state={QueryValues.WireName(state.Value)}")
            : null,
    };

    static ProblemHttpResult NotFound(Guid id) =>
        Problems.NotFound("No such batch", $"There is no batch {id} (it may have been deleted or expired).");

    /// <param name="id">Batch id.</param>
    /// <param name="after">Only slots with an index above this one (the last index of the previous page). Default: from the first slot.</param>
    /// <param name="limit">Most slots returned. Default and maximum: Batches:MaxPageSize (1000).</param>
    /// <param name="state">Only slots in this state.</param>
    /// <param name="results">false: the batch without <c>results</c> and <c>next</c>. Default true.</param>
    /// <param name="http">Injected.</param>
    /// <param name="context">Injected.</param>
    /// <param name="cancellationToken">Injected.</param>
    static async Task<Results<Ok<BatchDetails>, ValidationProblem, ProblemHttpResult>> GetBatch(
        Guid id,
        [QueryType(typeof(int), Minimum = 0)] string? after,
        [QueryType(typeof(int), Minimum = 1)] string? limit,
        [QueryType(typeof(SlotState))] string? state,
        [QueryType(typeof(bool), Default = "true")] string? results,
        [AsParameters] BatchRequest context,
        HttpRequest http,
        CancellationToken cancellationToken)
    {
        // Query values are parsed here, not bound, so that a bad one is a 400 naming the parameter.
        var maxPage = context.Batches.Limits.MaxPageSize;
        var errors = new Dictionary<string, string[]>();
        var position = QueryValues.WholeNumber(after, "after", -1, 0, int.MaxValue, errors);
        var take = QueryValues.WholeNumber(limit, "limit", maxPage, 1, maxPage, errors);
        var withResults = QueryValues.Flag(results, "results", true, errors);
        var slotState = QueryValues.OneOf<SlotState>(state, "state", errors);
        if (http.Query.ContainsKey("offset"))
        {
            errors["offset"] = ["'offset' is no longer supported: page with 'after' (the last index of the previous page), or follow 'next'."];
        }

        if (errors.Count > 0)
        {
            return Problems.Validation(errors);
        }

        var queries = context.Batches.Queries;
        if (!withResults)
        {
            return await queries.GetSummaryAsync(id, context.Owner, cancellationToken) is { } summary ? TypedResults.Ok(Details(summary)) : NotFound(id);
        }

        return await queries.GetPageAsync(id, context.Owner, slotState, position, take, cancellationToken) is { } page
            ? TypedResults.Ok(Details(page, take, slotState))
            : NotFound(id);
    }

    /// <param name="id">Batch id.</param>
    /// <param name="lastEventId">Resume after this event id (sent by EventSource and <c>curl</c> scripts on reconnect).</param>
    /// <param name="context">Injected.</param>
    /// <param name="cancellationToken">Injected.</param>
    static async Task<Results<EventStreamResult, NoContent, ValidationProblem, ProblemHttpResult>> StreamEvents(
        Guid id, [FromHeader(Name = "Last-Event-ID")] string? lastEventId, [AsParameters] BatchRequest context,
        CancellationToken cancellationToken)
    {
        long after = 0;
        if (lastEventId is not null && !long.TryParse(lastEventId, NumberStyles.None, CultureInfo.InvariantCulture, out after))
        {
            return Problems.Validation(new() { ["Last-Event-ID"] = ["Last-Event-ID must be the id of an event this stream sent."] });
        }

        switch (await context.Batches.SawDoneAsync(id, context.Owner, after, cancellationToken))
        {
            case null:
                return NotFound(id);
            case true:
                return TypedResults.NoContent(); // WHATWG: a 204 stops an EventSource from reconnecting
        }

        var events = context.Batches.FollowAsync(id, context.Owner, after, cancellationToken)
            .Select(e => new StreamEvent(e.Type, e.Sequence, e.Data));
        return new EventStreamResult(events, context.Batches.Limits.EventsKeepAlive, EventRetry);
    }

    /// <param name="id">Batch id.</param>
    /// <param name="state">Only slots in this state.</param>
    /// <param name="context">Injected.</param>
    /// <param name="cancellationToken">Injected.</param>
    static async Task<Results<NdjsonResults, ValidationProblem, ProblemHttpResult>> ExportResults(
        Guid id, [QueryType(typeof(SlotState))] string? state, [AsParameters] BatchRequest context, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        var slotState = QueryValues.OneOf<SlotState>(state, "state", errors);
        if (errors.Count > 0)
        {
            return Problems.Validation(errors);
        }

        var queries = context.Batches.Queries;
        return await queries.GetSummaryAsync(id, context.Owner, cancellationToken) is null
            ? NotFound(id)
            : new NdjsonResults(queries, id, context.Owner, slotState, context.Batches.Limits.MaxPageSize);
    }

    /// <param name="status">Only batches with this status: queued, running, completed or cancelled.</param>
    /// <param name="limit">Most batches returned, 1 to 100. Default 50.</param>
    /// <param name="cursor">The <c>next</c> value of the previous page.</param>
    /// <param name="context">Injected.</param>
    /// <param name="cancellationToken">Injected.</param>
    static async Task<Results<Ok<BatchList>, ValidationProblem>> ListBatches(
        [QueryType(typeof(BatchStatus))] string? status,
        [QueryType(typeof(int), Minimum = 1, Maximum = 100)] string? limit,
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
            : $"/batches?limit={take}&cursor={nextCursor}" + (batchStatus is null ? "" : $"&status={QueryValues.WireName(batchStatus.Value)}");
        return TypedResults.Ok(new BatchList(page.Batches, next));
    }

    static async Task<Results<Ok<BatchSummary>, ProblemHttpResult>> CancelBatch(Guid id, [AsParameters] BatchRequest context,
        CancellationToken cancellationToken)
    {
        var (outcome, summary) = await context.Batches.CancelAsync(id, context.Owner, cancellationToken);
        return outcome switch
        {
            CancelOutcome.NotFound => NotFound(id),
            CancelOutcome.AlreadyCompleted => Problems.Create(ProblemCode.BatchCompleted, "The batch already completed",
                $"Batch {id} completed at {summary!.CompletedAt:O}; there is nothing left to cancel."),
            _ => TypedResults.Ok(summary!),
        };
    }

    static async Task<Results<NoContent, ProblemHttpResult>> DeleteBatch(Guid id, [AsParameters] BatchRequest context,
        CancellationToken cancellationToken) =>
        await context.Batches.DeleteAsync(id, context.Owner, cancellationToken) ? TypedResults.NoContent() : NotFound(id);
}
