using FetchApi.Api;
using FetchApi.Engine;
using FetchApi.Model;
using FetchApi.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace FetchApi.Batches;

public static class BatchesApi
{
    public static RouteGroupBuilder MapBatches(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/batches").WithTags("Batches").RequireRateLimiting(RatePolicies.Api)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);

        group.MapPost("/", CreateBatch).WithName("CreateBatch")
            .WithSummary("Submit URLs to fetch")
            .WithDescription("Stores the batch (one result slot per URL, in input order) and answers 202 with its id and a Location header. " +
                             "Poll GET /batches/{id} for results.")
            .RequireRateLimiting(RatePolicies.Create)
            .AddEndpointFilter<ValidationFilter<CreateBatchRequest>>()
            .Accepts<CreateBatchRequest>("application/json")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        group.MapGet("/{id:guid}", GetBatch).WithName("GetBatch")
            .WithSummary("Read a batch's status and one page of its result slots")
            .WithDescription("Slots are ordered by input index. `results=false` returns the summary only (cheap polling); " +
                             "`state` filters slots; `offset`/`limit` page them and `next` links the following page.")
            .Produces<BatchDetails>()
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
    public sealed record BatchServices(IBatchStore Store, FetchEngine Engine, IOptions<BatchLimits> Limits, TimeProvider Time);

    static async Task<Results<Accepted<BatchSummary>, ProblemHttpResult>> CreateBatch(
        CreateBatchRequest request, [AsParameters] BatchServices services, HttpContext http, CancellationToken cancellationToken)
    {
        var urls = request.Urls!.Select(u => u!).ToList();
        if (!services.Engine.HasRoomFor(urls.Count))
        {
            http.Response.Headers.RetryAfter = "30";
            return Problems.Create(StatusCodes.Status503ServiceUnavailable, "backlog_full", "The fetch backlog is full",
                $"The engine already holds {services.Engine.Backlog} URLs waiting to be fetched; retry after 30 s.");
        }

        var options = (request.Options ?? new BatchOptionsRequest()).Resolve(services.Limits.Value);
        // Millisecond precision, as stored: the 202 body and later reads agree.
        var now = DateTimeOffset.FromUnixTimeMilliseconds(services.Time.GetUtcNow().ToUnixTimeMilliseconds());
        var batch = new NewBatch(Guid.CreateVersion7(now), now, options, urls);
        await services.Store.CreateAsync(batch, cancellationToken);
        // Committed: from here the batch is the engine's, even if this client goes away.
        services.Engine.Start(batch.Id, options, urls.Count, urls.Select((url, index) => new PendingSlot(index, url)));

        var summary = new BatchSummary
        {
            Id = batch.Id, Status = BatchStatus.Queued, CreatedAt = batch.CreatedAt, Options = options,
            Counts = new BatchCounts(urls.Count, urls.Count, 0, 0, 0),
        };
        return TypedResults.Accepted($"/batches/{batch.Id}", summary);
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
        bool? withResults = null;
        if (results is not null)
        {
            if (bool.TryParse(results, out var parsed))
            {
                withResults = parsed;
            }
            else
            {
                errors["results"] = ["'results' must be true or false."];
            }
        }

        SlotState? slotState = null;
        if (state is not null)
        {
            if (Enum.TryParse<SlotState>(state, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed) && !int.TryParse(state, out _))
            {
                slotState = parsed;
            }
            else
            {
                errors["state"] = ["'state' must be one of pending, fetched, failed, cancelled."];
            }
        }

        if (errors.Count > 0)
        {
            return Problems.Validation(errors);
        }

        if (withResults == false)
        {
            return await services.Store.GetSummaryAsync(id, cancellationToken) is { } summary
                ? TypedResults.Ok(summary)
                : Problems.NotFound(id);
        }

        if (await services.Store.GetPageAsync(id, slotState, skip, take, cancellationToken) is not { } page)
        {
            return Problems.NotFound(id);
        }

        string? next = null;
        if (take > 0 && skip + take < page.MatchingSlots)
        {
            next = $"/batches/{id}?offset={skip + take}&limit={take}" + (slotState is null ? "" : $"&state={state!.ToLowerInvariant()}");
        }

        var s = page.Summary;
        return TypedResults.Ok(new BatchDetails
        {
            Id = s.Id, Status = s.Status, CreatedAt = s.CreatedAt, StartedAt = s.StartedAt, CompletedAt = s.CompletedAt,
            Options = s.Options, Counts = s.Counts, Results = page.Slots, Next = next,
        });
    }

    /// <param name="status">Only batches with this status: queued, running, completed or cancelled.</param>
    /// <param name="limit">Most batches returned, 1 to 100. Default 50.</param>
    /// <param name="cursor">The <c>next</c> value of the previous page.</param>
    /// <param name="store">Injected.</param>
    /// <param name="cancellationToken">Injected.</param>
    static async Task<Results<Ok<BatchList>, ValidationProblem>> ListBatches(
        string? status, string? limit, string? cursor, IBatchStore store, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        var take = Query.Int(limit, "limit", 50, 1, 100, errors);
        BatchStatus? batchStatus = null;
        if (status is not null)
        {
            if (Enum.TryParse<BatchStatus>(status, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed) && !int.TryParse(status, out _))
            {
                batchStatus = parsed;
            }
            else
            {
                errors["status"] = ["'status' must be one of queued, running, completed, cancelled."];
            }
        }

        long? before = null;
        if (cursor is not null)
        {
            if (long.TryParse(cursor, out var parsed) && parsed > 0)
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

        var (batches, nextCursor) = await store.ListAsync(batchStatus, take, before, cancellationToken);
        var next = nextCursor is null ? null : $"/batches?limit={take}&cursor={nextCursor}" + (batchStatus is null ? "" : $"&status={status!.ToLowerInvariant()}");
        return TypedResults.Ok(new BatchList(batches, next));
    }

    static async Task<Results<Ok<BatchSummary>, ProblemHttpResult>> CancelBatch(
        Guid id, [AsParameters] BatchServices services, CancellationToken cancellationToken)
    {
        var (outcome, summary) = await services.Store.CancelAsync(id, services.Time.GetUtcNow(), cancellationToken);
        services.Engine.Cancel(id);
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
        services.Engine.Cancel(id);
        return await services.Store.DeleteAsync(id, cancellationToken) ? TypedResults.NoContent() : Problems.NotFound(id);
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

        if (int.TryParse(value, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var parsed)
            && parsed >= min && parsed <= max)
        {
            return parsed;
        }

        errors[name] = [max == int.MaxValue ? $"'{name}' must be a whole number, {min} or more." : $"'{name}' must be a whole number from {min} to {max}."];
        return fallback;
    }
}
