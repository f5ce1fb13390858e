using FetchApi.Model;

namespace FetchApi.Batches;

/// <summary>A page of a batch's slots, read in the same snapshot as its summary; <paramref name="More"/>: more slots match after it.</summary>
public sealed record BatchPage(BatchSummary Summary, IReadOnlyList<SlotResult> Slots, bool More);

/// <summary>A slot that became final, with its place in the order slots became final (for event streams).</summary>
public sealed record FinalSlot(long Sequence, SlotResult Slot);

/// <summary>A batch's summary and the slots that became final after a given sequence number, in that order.</summary>
public sealed record FinalSlots(BatchSummary Summary, IReadOnlyList<FinalSlot> Slots);

/// <summary>A page of summaries, newest first, and the cursor of the next page (a position in creation order, positive).</summary>
public sealed record SummaryPage(IReadOnlyList<BatchSummary> Batches, long? NextCursor);

/// <summary>
/// The store as the API reads it. Every read is one snapshot. Reads take the caller's owner (API key name, or null
/// when the service is open): a batch of another owner does not exist for them.
/// </summary>
public interface IBatchQueries
{
    Task<BatchSummary?> GetSummaryAsync(Guid id, string? owner, CancellationToken cancellationToken);

    /// <summary>
    /// The summary and up to <paramref name="limit"/> slots with an index above <paramref name="after"/> (-1: from the
    /// first), ordered by index, optionally of one state. Paging by position: a slot that leaves the state between two
    /// pages never shifts the slots after it.
    /// </summary>
    Task<BatchPage?> GetPageAsync(Guid id, string? owner, SlotState? state, int after, int limit, CancellationToken cancellationToken);

    /// <summary>The summary and up to <paramref name="limit"/> slots that became final after <paramref name="afterSequence"/>.</summary>
    Task<FinalSlots?> GetFinalSlotsAsync(Guid id, string? owner, long afterSequence, int limit, CancellationToken cancellationToken);

    /// <summary>Batches newest first; <paramref name="cursor"/> is the <see cref="SummaryPage.NextCursor"/> of the previous page.</summary>
    Task<SummaryPage> ListAsync(string? owner, BatchStatus? status, int limit, long? cursor, CancellationToken cancellationToken);
}
