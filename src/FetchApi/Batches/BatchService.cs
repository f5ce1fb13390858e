using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text.Json;
using FetchApi.Callbacks;
using FetchApi.Engine;
using FetchApi.Model;
using FetchApi.Telemetry;
using Microsoft.Extensions.Options;

namespace FetchApi.Batches;

/// <summary>What a create did, and what the client is told about it.</summary>
/// <param name="Outcome">Stored, replayed, refused.</param>
/// <param name="BatchId">The new batch, or the one the idempotency key names.</param>
/// <param name="Summary">The batch as stored (created or replayed); null when refused.</param>
/// <param name="Backlog">URLs waiting in the engine when the batch was refused for a full backlog.</param>
public sealed record Creation(CreateOutcome Outcome, Guid BatchId, BatchSummary? Summary, long Backlog);

/// <summary>One event of a batch's feed: a slot became final, the counts moved, or the batch ended.</summary>
public sealed record BatchEvent(string Type, long Sequence, object Data);

/// <summary>
/// The rules between the HTTP API and the rest: admission against the engine's backlog, idempotency, handing a stored
/// batch to the engine, cancel and delete (store first, then engine, then everyone who listens), waiting until a batch
/// ends, and the feed of its events. Handlers parse, call one method here (or a query), and map the answer.
/// </summary>
public sealed class BatchService(
    IBatchCommands commands,
    IBatchQueries queries,
    FetchEngine engine,
    BatchChanges changes,
    FetchMetrics metrics,
    IOptions<BatchLimits> limits,
    TimeProvider time)
{
    static readonly TimeSpan IdempotencyLifetime = TimeSpan.FromHours(24);

    /// <summary>Slots per read of the event feed.</summary>
    const int EventPage = 500;

    public BatchLimits Limits { get; } = limits.Value;

    public IBatchQueries Queries => queries;

    /// <summary>The most URLs one batch can have and ever be admitted: the engine's whole backlog.</summary>
    public int MaxAdmissibleUrls => engine.MaxBacklog;

    /// <summary>
    /// Stores the batch (or finds the one an earlier request with the same idempotency key created) and, once it is
    /// committed, hands it to the engine: from then on the batch is the engine's, even if the client goes away.
    /// </summary>
    public async Task<Creation> CreateAsync(CreateBatchRequest request, string? owner, string? idempotencyKey, CancellationToken cancellationToken)
    {
        var urls = request.Urls!.Select(u => u!).ToList();
        var options = (request.Options ?? new BatchOptionsRequest()).Resolve(Limits);
        // Millisecond precision, as stored: the 202 body and later reads agree.
        var now = DateTimeOffset.FromUnixTimeMilliseconds(time.GetUtcNow().ToUnixTimeMilliseconds());
        var callback = request.Callback is { Url: { } url, Secret: { } secret } ? new Callback(url, secret) : null;
        var batch = new NewBatch(Guid.CreateVersion7(now), now, options, urls, owner, callback);
        var key = idempotencyKey is null
            ? null
            : new IdempotencyKey(idempotencyKey, Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(request))),
                IdempotencyLifetime);

        var created = await commands.CreateAsync(batch, key, () => engine.HasRoomFor(urls.Count), cancellationToken);
        switch (created.Outcome)
        {
            case CreateOutcome.NotAdmitted:
                return new Creation(created.Outcome, created.BatchId, null, engine.Backlog);
            case CreateOutcome.KeyReusedWithDifferentRequest:
                return new Creation(created.Outcome, created.BatchId, null, 0);
            case CreateOutcome.Replayed:
                return new Creation(created.Outcome, created.BatchId, await queries.GetSummaryAsync(created.BatchId, owner, cancellationToken), 0);
        }

        engine.Start(batch.Id, options, urls.Count, urls.Select((u, index) => new PendingSlot(index, u)), Activity.Current?.Context ?? default);
        metrics.Batches(BatchStatus.Queued);
        // Described from what was just stored, without reading it back.
        var summary = new BatchSummary
        {
            Id = batch.Id, Status = BatchStatus.Queued, CreatedAt = now, Options = options.AsBatchOptions(),
            Counts = new BatchCounts(urls.Count, urls.Count, 0, 0, 0),
        };
        return new Creation(CreateOutcome.Created, batch.Id, summary, 0);
    }

    /// <summary>Cancels in the store, then stops the engine's work on the batch and tells listeners.</summary>
    public async Task<(CancelOutcome Outcome, BatchSummary? Summary)> CancelAsync(Guid id, string? owner, CancellationToken cancellationToken)
    {
        var (outcome, summary) = await commands.CancelAsync(id, owner, time.GetUtcNow(), cancellationToken);
        if (outcome == CancelOutcome.Cancelled)
        {
            engine.Cancel(id);
            metrics.Batches(BatchStatus.Cancelled);
            changes.Publish([id], ended: true);
        }

        return (outcome, summary);
    }

    /// <summary>Deletes in the store (only the owner may), then stops the engine's work on the batch and tells listeners.</summary>
    public async Task<bool> DeleteAsync(Guid id, string? owner, CancellationToken cancellationToken)
    {
        if (!await commands.DeleteAsync(id, owner, cancellationToken))
        {
            return false;
        }

        engine.Cancel(id);
        changes.Publish([id]);
        return true;
    }

    /// <summary>The first page of an ended batch, once it ends within <paramref name="wait"/>; null if it does not, or is gone.</summary>
    public async Task<BatchPage?> WaitUntilEndedAsync(Guid id, string? owner, TimeSpan wait, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(wait);
        var change = Task.CompletedTask;
        try
        {
            while (true)
            {
                change = changes.Next(id);
                if (await queries.GetSummaryAsync(id, owner, cancellationToken) is not { } summary)
                {
                    return null;
                }

                if (summary.Status is BatchStatus.Completed or BatchStatus.Cancelled)
                {
                    return await queries.GetPageAsync(id, owner, null, -1, Limits.MaxPageSize, cancellationToken);
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
            changes.Forget(id, change);
        }
    }

    /// <summary>
    /// Whether a client that resumes after <paramref name="lastEventId"/> has already seen the <c>done</c> event of an
    /// ended batch (its id is one past the last result's); null when there is no such batch.
    /// </summary>
    public async Task<bool?> SawDoneAsync(Guid id, string? owner, long lastEventId, CancellationToken cancellationToken) =>
        await queries.GetFinalSlotsAsync(id, owner, Math.Max(0, lastEventId - 1), 1, cancellationToken) is { } final
            ? lastEventId > 0 && final.Slots.Count == 0 && final.Summary.Status is BatchStatus.Completed or BatchStatus.Cancelled
            : null;

    /// <summary>
    /// A batch's events after <paramref name="after"/>: <c>result</c> per slot as it becomes final (in that order),
    /// <c>progress</c> when the counts moved, and <c>done</c> with the final summary, which ends the feed. Event ids
    /// are positions in the order slots became final; <c>done</c>'s is one past the last result's.
    /// </summary>
    public async IAsyncEnumerable<BatchEvent> FollowAsync(Guid id, string? owner, long after,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        BatchCounts? sent = null;
        var change = Task.CompletedTask;
        try
        {
            while (true)
            {
                change = changes.Next(id);
                if (await queries.GetFinalSlotsAsync(id, owner, after, EventPage, cancellationToken) is not { } final)
                {
                    yield break; // deleted meanwhile
                }

                foreach (var (sequence, slot) in final.Slots)
                {
                    after = sequence;
                    yield return new BatchEvent("result", after, slot);
                }

                var summary = final.Summary;
                if (final.Slots.Count == EventPage)
                {
                    continue;
                }

                if (summary.Status is BatchStatus.Completed or BatchStatus.Cancelled)
                {
                    // One past the last result: a reconnect with this id has seen everything (see SawDoneAsync).
                    yield return new BatchEvent("done", after + 1, summary);
                    yield break;
                }

                if (summary.Counts != sent)
                {
                    sent = summary.Counts;
                    yield return new BatchEvent("progress", after, summary);
                }

                await change.WaitAsync(cancellationToken);
            }
        }
        finally
        {
            changes.Forget(id, change);
        }
    }
}
