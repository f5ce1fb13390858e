using FetchApi.Model;

namespace FetchApi.Storage;

/// <summary>Where to POST the summary when a batch ends, and the secret that signs it.</summary>
public sealed record Callback(string Url, string Secret);

/// <summary>A batch as accepted: its slots are all pending. <paramref name="Owner"/> is the API key's name, or null when the service is open.</summary>
public sealed record NewBatch(Guid Id, DateTimeOffset CreatedAt, BatchOptions Options, IReadOnlyList<string> Urls, string? Owner = null,
    Callback? Callback = null);

/// <summary>An <c>Idempotency-Key</c> with a fingerprint of the request it came with.</summary>
public sealed record IdempotencyKey(string Key, string RequestHash, TimeSpan Lifetime);

public enum CreateOutcome { Created, Replayed, KeyReusedWithDifferentRequest, NotAdmitted }

/// <summary>What a create did: stored the batch, or found the one an earlier request with the same key created.</summary>
public sealed record CreateResult(CreateOutcome Outcome, Guid BatchId);

/// <summary>One URL still to fetch.</summary>
public readonly record struct PendingSlot(int Index, string Url);

/// <summary>A batch the engine must (re)start, with its options.</summary>
public sealed record UnfinishedBatch(Guid Id, BatchOptions Options, int Pending);

/// <summary>A final slot result produced by the engine.</summary>
public sealed record SlotUpdate(Guid BatchId, SlotResult Result);

/// <summary>A page of a batch's slots, read in the same snapshot as its summary.</summary>
public sealed record BatchPage(BatchSummary Summary, IReadOnlyList<SlotResult> Slots, int MatchingSlots);

/// <summary>A slot that became final, with its place in the order slots became final (for event streams).</summary>
public sealed record FinalSlot(long Sequence, SlotResult Slot);

/// <summary>A batch's summary and the slots that became final after a given sequence number, in that order.</summary>
public sealed record BatchEvents(BatchSummary Summary, IReadOnlyList<FinalSlot> Slots);

/// <summary>What a write changed: every batch it touched, and those it completed.</summary>
public sealed record WriteResult(IReadOnlyCollection<Guid> Touched, IReadOnlyCollection<Guid> Completed);

/// <summary>An ended batch whose callback still has to be delivered.</summary>
public sealed record DueCallback(Guid BatchId, string? Owner, Callback Callback, int Attempts, DateTimeOffset EndedAt);

/// <summary>The store cannot take writes right now (locked, full, read-only, I/O error); the caller may retry later.</summary>
public sealed class StoreUnavailableException(Exception inner) : Exception($"The store cannot accept writes: {inner.Message}", inner);

public enum CancelOutcome { NotFound, Cancelled, AlreadyCancelled, AlreadyCompleted }

public enum CallbackState { None = 0, Pending = 1, Delivered = 2, GaveUp = 3 }

/// <summary>
/// Where batches live. One interface so that a server database (PostgreSQL) can follow the embedded SQLite default.
/// Every method is atomic: readers never see half of a write. Reads and changes take the caller's owner (API key
/// name, or null when the service is open): a batch of another owner does not exist for them.
/// </summary>
public interface IBatchStore
{
    /// <summary>Creates the schema or upgrades an older one.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Stores a batch and all its slots in one transaction. With an idempotency key already used by this owner within
    /// its lifetime, stores nothing and returns the earlier batch (same request) or a conflict (different request).
    /// Otherwise <paramref name="admit"/> decides whether a new batch may be stored (the engine's backlog bound), so
    /// that a retry of an accepted request is replayed even when new work is refused.
    /// </summary>
    Task<CreateResult> CreateAsync(NewBatch batch, IdempotencyKey? idempotencyKey, Func<bool> admit, CancellationToken cancellationToken);

    Task<BatchSummary?> GetSummaryAsync(Guid id, string? owner, CancellationToken cancellationToken);

    /// <summary>The summary and one page of slots (ordered by index, optionally of one state).</summary>
    Task<BatchPage?> GetPageAsync(Guid id, string? owner, SlotState? state, int offset, int limit, CancellationToken cancellationToken);

    /// <summary>The summary and up to <paramref name="limit"/> slots that became final after <paramref name="afterSequence"/>.</summary>
    Task<BatchEvents?> GetEventsAsync(Guid id, string? owner, long afterSequence, int limit, CancellationToken cancellationToken);

    /// <summary>Batches newest first; <paramref name="before"/> is the cursor returned by the previous page.</summary>
    Task<(IReadOnlyList<BatchSummary> Batches, long? NextCursor)> ListAsync(
        string? owner, BatchStatus? status, int limit, long? before, CancellationToken cancellationToken);

    /// <summary>Marks every pending slot cancelled and the batch cancelled, unless it already ended.</summary>
    Task<(CancelOutcome Outcome, BatchSummary? Summary)> CancelAsync(Guid id, string? owner, DateTimeOffset now, CancellationToken cancellationToken);

    Task<bool> DeleteAsync(Guid id, string? owner, CancellationToken cancellationToken);

    /// <summary>
    /// Records results in one transaction. A slot that is no longer pending (cancelled meanwhile, or already written)
    /// is left alone, so each slot is recorded exactly once. Batches with no pending slot left become completed.
    /// </summary>
    Task<WriteResult> WriteAsync(IReadOnlyList<SlotUpdate> results, IReadOnlyList<(Guid BatchId, DateTimeOffset At)> started,
        DateTimeOffset now, CancellationToken cancellationToken);

    Task<IReadOnlyList<UnfinishedBatch>> GetUnfinishedAsync(CancellationToken cancellationToken);

    /// <summary>Pending slots of a batch with an index above <paramref name="afterIndex"/>, in index order.</summary>
    Task<IReadOnlyList<PendingSlot>> GetPendingSlotsAsync(Guid id, int afterIndex, int limit, CancellationToken cancellationToken);

    /// <summary>Ended batches whose callback is pending and due at <paramref name="now"/>.</summary>
    Task<IReadOnlyList<DueCallback>> GetDueCallbacksAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken);

    /// <summary>Records a delivery attempt: its new state, and when to try next if still pending.</summary>
    Task RecordCallbackAsync(Guid id, CallbackState state, int attempts, DateTimeOffset? nextAttemptAt, CancellationToken cancellationToken);

    /// <summary>Deletes batches that ended before <paramref name="endedBefore"/>, and idempotency keys past their lifetime; returns how many batches.</summary>
    Task<int> DeleteEndedBeforeAsync(DateTimeOffset endedBefore, int limit, CancellationToken cancellationToken);

    /// <summary>Whether the store answers a read and accepts a write.</summary>
    Task CheckAsync(CancellationToken cancellationToken);
}
