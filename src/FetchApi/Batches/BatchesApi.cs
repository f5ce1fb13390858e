using System.Globalization;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text.Json;
using FetchApi.Api;
using FetchApi.Engine;
using FetchApi.Model;
using FetchApi.Security;
using FetchApi.Storage;
using FetchApi.Telemetry;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace FetchApi.Batches;

public static class BatchesApi
{
    static readonly TimeSpan IdempotencyLifetime = TimeSpan.FromHours(24);
    static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(60);

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

    /// <summary>What the busier handlers need.</summary>
    public sealed record BatchServices(
        IBatchStore Store, FetchEngine Engine, BatchNotifier Notifier, CallbackDispatcher Callbacks, FetchMetrics Metrics,
        IOptions<BatchLimits> Limits, TimeProvider Time, ClaimsPrincipal User)
    {
        public string? Owner => User.Owner();
    }

    /// <param name="request">The URLs and options.</param>
    /// <param name="idempotencyKey">Up to 255 visible ASCII characters; the same key and body within 24 h return the same batch.</param>
    /// <param name="prefer"><c>wait=N</c> (N ≤ 60): wait up to N seconds for the batch to finish.</param>
    /// <param name="services">Injected.</param>
    /// <param name="http">Injected.</param>
    /// <param name="cancellationToken">Injected.</param>
    static async Task<Results<Accepted<BatchSummary>, Ok<BatchDetails>, ValidationProblem, ProblemHttpResult>> CreateBatch(
        CreateBatchRequest request,
        [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey,
        [FromHeader(Name = "Prefer")] string? prefer,
        [AsParameters] BatchServices services,
        HttpContext http,
        CancellationToken cancellationToken)
    {
        if (idempotencyKey is not null && (idempotencyKey.Length is 0 or > 255 || idempotencyKey.Any(c => c is < '!' or > '~')))
        {
            return Problems.Validation(new() { ["Idempotency-Key"] = ["The Idempotency-Key header must be 1 to 255 visible ASCII characters."] });
        }

        var urls = request.Urls!.Select(u => u!).ToList();

        var options = (request.Options ?? new BatchOptionsRequest()).Resolve(services.Limits.Value);
        // Millisecond precision, as stored: the 202 body and later reads agree.
        var now = DateTimeOffset.FromUnixTimeMilliseconds(services.Time.GetUtcNow().ToUnixTimeMilliseconds());
        var callback = request.Callback is { Url: { } url, Secret: { } secret } ? new Callback(url, secret) : null;
        var batch = new NewBatch(Guid.CreateVersion7(now), now, options, urls, services.Owner, callback);
        var key = idempotencyKey is null
            ? null
            : new IdempotencyKey(idempotencyKey, Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(request))),
                IdempotencyLifetime);

        var created = await services.Store.CreateAsync(batch, key, () => services.Engine.HasRoomFor(urls.Count), cancellationToken);
        switch (created.Outcome)
        {
            case CreateOutcome.NotAdmitted:
                http.Response.Headers.RetryAfter = "30";
                return Problems.Create(StatusCodes.Status503ServiceUnavailable, "backlog_full", "The fetch backlog is full",
                    $"The engine already holds {services.Engine.Backlog} URLs waiting to be fetched; retry after 30 s.");
            case CreateOutcome.KeyReusedWithDifferentRequest:
                return Problems.Create(StatusCodes.Status422UnprocessableEntity, "idempotency_key_reused", "The Idempotency-Key was used for another request",
                    $"This key created batch {created.BatchId} from a different body within the last 24 h. Use a new key for a new batch.");
            case CreateOutcome.Replayed:
                http.Response.Headers["Idempotent-Replayed"] = "true";
                break;
            default:
                // Committed: from here the batch is the engine's, even if this client goes away.
                services.Engine.Start(batch.Id, options, urls.Count, urls.Select((u, index) => new PendingSlot(index, u)),
                    System.Diagnostics.Activity.Current?.Context ?? default);
                services.Metrics.Batches(BatchStatus.Queued);
                break;
        }

        var location = $"/batches/{created.BatchId}";
        if (PreferredWait(prefer) is { } wait)
        {
            var finished = await WaitUntilEndedAsync(created.BatchId, wait, services, cancellationToken);
            if (finished is not null)
            {
                http.Response.Headers["Preference-Applied"] = $"wait={(int)wait.TotalSeconds}";
                http.Response.Headers.Location = location;
                return TypedResults.Ok(finished);
            }
        }

        // A new batch is described from what was just stored; a replayed one is read back as it is now.
        var summary = created.Outcome == CreateOutcome.Created
            ? new BatchSummary
            {
                Id = batch.Id, Status = BatchStatus.Queued, CreatedAt = now, Options = options,
                Counts = new BatchCounts(urls.Count, urls.Count, 0, 0, 0),
            }
            : await services.Store.GetSummaryAsync(created.BatchId, services.Owner, cancellationToken);
        return TypedResults.Accepted(location, summary);
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

    static async Task<BatchDetails?> WaitUntilEndedAsync(Guid id, TimeSpan wait, BatchServices services, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(wait);
        Task change = Task.CompletedTask;
        try
        {
            while (true)
            {
                change = services.Notifier.NextChange(id);
                if (await services.Store.GetSummaryAsync(id, services.Owner, cancellationToken) is not { } summary)
                {
                    return null;
                }

                if (summary.Status is BatchStatus.Completed or BatchStatus.Cancelled)
                {
                    var page = await services.Store.GetPageAsync(id, services.Owner, null, 0, services.Limits.Value.MaxPageSize, cancellationToken);
                    return page is null ? null : Details(page, null, null);
                }

                await change.WaitAsync(timeout.Token);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
        finally
        {
            services.Notifier.Forget(id, change);
        }
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

    /// <param name="id">Batch id.</param>
    /// <param name="offset">Slots to skip (of the selected state, if any). Default 0.</param>
    /// <param name="limit">Most slots returned, 0 to 1000. Default 1000.</param>
    /// <param name="state">Only slots in this state: pending, fetched, failed or cancelled.</param>
    /// <param name="results">false: the summary only, without slots. Default true.</param>
    /// <param name="services">Injected.</param>
    /// <param name="cancellationToken">Injected.</param>
    static async Task<Results<Ok<BatchSummary>, Ok<BatchDetails>, ValidationProblem, ProblemHttpResult>> GetBatch(
        Guid id, string? offset, string? limit, string? state, string? results, [AsParameters] BatchServices services,
        CancellationToken cancellationToken)
    {
        // Query values are parsed here, not bound, so that a bad one is a 400 naming the parameter.
        var maxPage = services.Limits.Value.MaxPageSize;
        var errors = new Dictionary<string, string[]>();
        var skip = Query.Int(offset, "offset", 0, 0, int.MaxValue, errors);
        var take = Query.Int(limit, "limit", maxPage, 0, maxPage, errors);
        var withResults = Query.Bool(results, "results", true, errors);
        var slotState = Query.Enum<SlotState>(state, "state", errors);
        if (errors.Count > 0)
        {
            return Problems.Validation(errors);
        }

        if (!withResults)
        {
            return await services.Store.GetSummaryAsync(id, services.Owner, cancellationToken) is { } summary
                ? TypedResults.Ok(summary)
                : Problems.NotFound(id);
        }

        if (await services.Store.GetPageAsync(id, services.Owner, slotState, skip, take, cancellationToken) is not { } page)
        {
            return Problems.NotFound(id);
        }

        var nextQuery = take > 0 && (long)skip + take < page.MatchingSlots
            ? $"offset={skip + take}&limit={take}" + (slotState is null ? "" : $"&state={state!.ToLowerInvariant()}")
            : null;
        return TypedResults.Ok(Details(page, take, nextQuery));
    }

    /// <param name="id">Batch id.</param>
    /// <param name="lastEventId">Resume after this event id (sent by EventSource and <c>curl</c> scripts on reconnect).</param>
    /// <param name="services">Injected.</param>
    /// <param name="cancellationToken">Injected.</param>
    static async Task<Results<ServerSentEventsResult<object>, ValidationProblem, ProblemHttpResult>> StreamEvents(
        Guid id, [FromHeader(Name = "Last-Event-ID")] string? lastEventId, [AsParameters] BatchServices services,
        CancellationToken cancellationToken)
    {
        long after = 0;
        if (lastEventId is not null && !long.TryParse(lastEventId, NumberStyles.None, CultureInfo.InvariantCulture, out after))
        {
            return Problems.Validation(new() { ["Last-Event-ID"] = ["Last-Event-ID must be the id of an event this stream sent."] });
        }

        if (await services.Store.GetSummaryAsync(id, services.Owner, cancellationToken) is null)
        {
            return Problems.NotFound(id);
        }

        return TypedResults.ServerSentEvents(Events(id, after, services, cancellationToken));
    }

    static async IAsyncEnumerable<SseItem<object>> Events(
        Guid id, long after, BatchServices services, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        const int PageSize = 500;
        BatchCounts? sent = null;
        var change = Task.CompletedTask;
        try
        {
            while (true)
            {
                change = services.Notifier.NextChange(id);
                if (await services.Store.GetEventsAsync(id, services.Owner, after, PageSize, cancellationToken) is not { } events)
                {
                    yield break; // deleted meanwhile
                }

                foreach (var (sequence, slot) in events.Slots)
                {
                    after = sequence;
                    yield return new SseItem<object>(slot, "result") { EventId = Id(after) };
                }

                var summary = events.Summary;
                if (events.Slots.Count == PageSize)
                {
                    continue;
                }

                if (summary.Status is BatchStatus.Completed or BatchStatus.Cancelled)
                {
                    yield return new SseItem<object>(summary, "done") { EventId = Id(after) };
                    yield break;
                }

                if (summary.Counts != sent)
                {
                    sent = summary.Counts;
                    yield return new SseItem<object>(summary, "progress") { EventId = Id(after) };
                }

                // Wake on the next write for this batch; every 15 s anyway, so proxies see a live stream.
                using var heartbeat = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                heartbeat.CancelAfter(TimeSpan.FromSeconds(15));
                try
                {
                    await change.WaitAsync(heartbeat.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    sent = null;
                }
            }
        }
        finally
        {
            services.Notifier.Forget(id, change);
        }
    }

    static string Id(long sequence) => sequence.ToString(CultureInfo.InvariantCulture);

    /// <param name="status">Only batches with this status: queued, running, completed or cancelled.</param>
    /// <param name="limit">Most batches returned, 1 to 100. Default 50.</param>
    /// <param name="cursor">The <c>next</c> value of the previous page.</param>
    /// <param name="services">Injected.</param>
    /// <param name="cancellationToken">Injected.</param>
    static async Task<Results<Ok<BatchList>, ValidationProblem>> ListBatches(
        string? status, string? limit, string? cursor, [AsParameters] BatchServices services, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        var take = Query.Int(limit, "limit", 50, 1, 100, errors);
        var batchStatus = Query.Enum<BatchStatus>(status, "status", errors);
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

        var (batches, nextCursor) = await services.Store.ListAsync(services.Owner, batchStatus, take, before, cancellationToken);
        var next = nextCursor is null
            ? null
            : $"/batches?limit={take}&cursor={nextCursor}" + (batchStatus is null ? "" : $"&status={status!.ToLowerInvariant()}");
        return TypedResults.Ok(new BatchList(batches, next));
    }

    static async Task<Results<Ok<BatchSummary>, ProblemHttpResult>> CancelBatch(
        Guid id, [AsParameters] BatchServices services, CancellationToken cancellationToken)
    {
        var (outcome, summary) = await services.Store.CancelAsync(id, services.Owner, services.Time.GetUtcNow(), cancellationToken);
        if (outcome == CancelOutcome.Cancelled)
        {
            services.Engine.Cancel(id);
            services.Notifier.Changed([id]);
            services.Callbacks.Poke();
            services.Metrics.Batches(BatchStatus.Cancelled);
        }

        return outcome switch
        {
            CancelOutcome.NotFound => Problems.NotFound(id),
            CancelOutcome.AlreadyCompleted => Problems.Create(StatusCodes.Status409Conflict, "batch_completed", "The batch already completed",
                $"Batch {id} completed at {summary!.CompletedAt:O}; there is nothing left to cancel."),
            _ => TypedResults.Ok(summary!),
        };
    }

    static async Task<Results<NoContent, ProblemHttpResult>> DeleteBatch(Guid id, [AsParameters] BatchServices services, CancellationToken cancellationToken)
    {
        // Only the owner may delete; the engine is stopped for the batch once the store agreed.
        if (!await services.Store.DeleteAsync(id, services.Owner, cancellationToken))
        {
            return Problems.NotFound(id);
        }

        services.Engine.Cancel(id);
        services.Notifier.Changed([id]);
        return TypedResults.NoContent();
    }
}

/// <summary>Query-string parsing that reports a bad value under the parameter's name.</summary>
static class Query
{
    public static int Int(string? value, string name, int fallback, int min, int max, Dictionary<string, string[]> errors)
    {
        if (value is null)
        {
            return fallback;
        }

        if (int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) && parsed >= min && parsed <= max)
        {
            return parsed;
        }

        errors[name] = [max == int.MaxValue ? $"'{name}' must be a whole number, {min} or more." : $"'{name}' must be a whole number from {min} to {max}."];
        return fallback;
    }

    public static bool Bool(string? value, string name, bool fallback, Dictionary<string, string[]> errors)
    {
        if (value is null)
        {
            return fallback;
        }

        if (bool.TryParse(value, out var parsed))
        {
            return parsed;
        }

        errors[name] = [$"'{name}' must be true or false."];
        return fallback;
    }

    public static T? Enum<T>(string? value, string name, Dictionary<string, string[]> errors) where T : struct, System.Enum
    {
        if (value is null)
        {
            return null;
        }

        if (!int.TryParse(value, out _) && System.Enum.TryParse<T>(value, ignoreCase: true, out var parsed) && System.Enum.IsDefined(parsed))
        {
            return parsed;
        }

        errors[name] = [$"'{name}' must be one of {string.Join(", ", System.Enum.GetNames<T>().Select(n => n.ToLowerInvariant()))}."];
        return null;
    }
}
