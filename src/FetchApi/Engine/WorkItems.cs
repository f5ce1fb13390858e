using FetchApi.Model;

namespace FetchApi.Engine;

/// <summary>One URL still to fetch.</summary>
public readonly record struct PendingSlot(int Index, string Url);

/// <summary>A batch with slots still pending, with the options it runs with.</summary>
public sealed record UnfinishedBatch(Guid Id, FetchOptions Options, int Pending);

/// <summary>
/// What a fetch produced: the slot's result, and the HTML body when the batch asked for extraction and the response is
/// HTML (the CPU stage reads it; it is never stored).
/// </summary>
public sealed record FetchedSlot(SlotResult Result, byte[]? Page = null);

/// <summary>A final slot result produced by the engine.</summary>
public sealed record SlotUpdate(Guid BatchId, SlotResult Result);

/// <summary>
/// Slots this node has finished fetching whose results are not known to be committed yet (queued for the writer, or in
/// a transaction that has not returned): their leases are still in the store, but they hold no request open, so they
/// do not count against any limit. Named slot by slot, so that a lease the commit removed meanwhile is not subtracted
/// twice.
/// </summary>
public sealed record Unwritten(Guid[] BatchIds, int[] Indexes)
{
    public static readonly Unwritten None = new([], []);
}

/// <summary>The moment a batch's first fetch started.</summary>
public readonly record struct BatchStarted(Guid BatchId, DateTimeOffset At);

/// <summary>What a write changed: every batch it touched, and those it completed.</summary>
public sealed record WriteResult(IReadOnlyCollection<Guid> Touched, IReadOnlyCollection<Guid> Completed);
