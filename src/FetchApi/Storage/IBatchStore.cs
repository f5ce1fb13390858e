using FetchApi.Model;

namespace FetchApi.Storage;

/// <summary>A batch as accepted: its slots are all pending.</summary>
public sealed record NewBatch(Guid Id, DateTimeOffset CreatedAt, BatchOptions Options, IReadOnlyList<string> Urls);

/// <summary>One URL still to fetch.</summary>
public readonly record struct PendingSlot(int Index, string Url);

/// <summary>A batch the engine must (re)start, with its options.</summary>
public sealed record UnfinishedBatch(Guid Id, BatchOptions Options, int Pending);

/// <summary>A final slot result produced by the engine.</summary>
public sealed record SlotUpdate(Guid BatchId, SlotResult Result);

/// <summary>A page of a batch's slots, read in the same snapshot as its summary.</summary>
public sealed record BatchPage(BatchSummary Summary, IReadOnlyList<SlotResult> Slots, int MatchingSlots);

/// <summary>The store cannot take writes right now (locked, full, read-only, I/O error); the caller may retry later.</summary>
public sealed class StoreUnavailableException(Exception inner) : Exception($"The store cannot accept writes: {inner.Message}", inner);

public enum CancelOutcome { NotFound, Cancelled, AlreadyCancelled, AlreadyCompleted }

/// <summary>
/// Where batches live. One interface so that a server database (PostgreSQL) can follow the embedded SQLite default.
/// Every method is atomic: readers never see half of a write.
/// </summary>
public interface IBatchStore
{
    /// <summary>Creates the schema or upgrades an older one.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Stores a batch and all its slots in one transaction.</summary>
    Task CreateAsync(NewBatch batch, CancellationToken cancellationToken);

    Task<BatchSummary?> GetSummaryAsync(Guid id, CancellationToken cancellationToken);

    /// <summary>The summary and one page of slots (ordered by index, optionally of one state).</summary>
    Task<BatchPage?> GetPageAsync(Guid id, SlotState? state, int offset, int limit, CancellationToken cancellationToken);

    /// <summary>Batches newest first; <paramref name="before"/> is the cursor returned by the previous page.</summary>
    Task<(IReadOnlyList<BatchSummary> Batches, long? NextCursor)> ListAsync(
        BatchStatus? status, int limit, long? before, CancellationToken cancellationToken);

    /// <summary>Marks every pending slot cancelled and the batch cancelled, unless it already ended.</summary>
    Task<(CancelOutcome Outcome, BatchSummary? Summary)> CancelAsync(Guid id, DateTimeOffset now, CancellationToken cancellationToken);

    Task<bool> DeleteAsync(Guid id, CancellationToken cancellationToken);

    /// <summary>
    /// Records results in one transaction. A slot that is no longer pending (cancelled meanwhile, or already written)
    /// is left alone, so each slot is recorded exactly once. Batches with no pending slot left become completed.
    /// </summary>
    Task WriteAsync(IReadOnlyList<SlotUpdate> results, IReadOnlyList<(Guid BatchId, DateTimeOffset At)> started, DateTimeOffset now,
        CancellationToken cancellationToken);

    Task<IReadOnlyList<UnfinishedBatch>> GetUnfinishedAsync(CancellationToken cancellationToken);

    /// <summary>Pending slots of a batch with an index above <paramref name="afterIndex"/>, in index order.</summary>
    Task<IReadOnlyList<PendingSlot>> GetPendingSlotsAsync(Guid id, int afterIndex, int limit, CancellationToken cancellationToken);

    /// <summary>Deletes batches that ended before <paramref name="endedBefore"/>; returns how many.</summary>
    Task<int> DeleteEndedBeforeAsync(DateTimeOffset endedBefore, int limit, CancellationToken cancellationToken);

    /// <summary>Whether the store answers a read and accepts a write.</summary>
    Task CheckAsync(CancellationToken cancellationToken);
}
