using FetchApi.Model;

namespace FetchApi.Engine;

/// <summary>One URL still to fetch.</summary>
public readonly record struct PendingSlot(int Index, string Url);

/// <summary>A batch with slots still pending, with the options it runs with.</summary>
public sealed record UnfinishedBatch(Guid Id, FetchOptions Options, int Pending);

/// <summary>A final slot result produced by the engine.</summary>
public sealed record SlotUpdate(Guid BatchId, SlotResult Result);

/// <summary>The moment a batch's first fetch started.</summary>
public readonly record struct BatchStarted(Guid BatchId, DateTimeOffset At);

/// <summary>What a write changed: every batch it touched, and those it completed.</summary>
public sealed record WriteResult(IReadOnlyCollection<Guid> Touched, IReadOnlyCollection<Guid> Completed);
