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

/// <summary>A final slot result produced by the engine; <paramref name="Host"/> is the host key it was fetched under.</summary>
public sealed record SlotUpdate(Guid BatchId, SlotResult Result, string Host = "");

/// <summary>
/// Fetches this node has finished whose results the writer has not taken yet (so not committed), per batch and per
/// host: the store still counts them in flight, though no request is open any more.
/// </summary>
public sealed record Unwritten(IReadOnlyDictionary<Guid, int> ByBatch, IReadOnlyDictionary<string, int> ByHost)
{
    public static readonly Unwritten None = new(new Dictionary<Guid, int>(), new Dictionary<string, int>());
}

/// <summary>The moment a batch's first fetch started.</summary>
public readonly record struct BatchStarted(Guid BatchId, DateTimeOffset At);

/// <summary>What a write changed: every batch it touched, and those it completed.</summary>
public sealed record WriteResult(IReadOnlyCollection<Guid> Touched, IReadOnlyCollection<Guid> Completed);
