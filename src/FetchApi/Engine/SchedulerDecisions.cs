namespace FetchApi.Engine;

/// <summary>One slot to fetch now, and the host it counts against.</summary>
public readonly record struct Dispatch(Guid BatchId, string Host, PendingSlot Slot);

/// <summary>Read up to <paramref name="Limit"/> pending slots of a batch with an index above <paramref name="AfterIndex"/>.</summary>
public readonly record struct Refill(Guid BatchId, int AfterIndex, int Limit);

/// <summary>What <see cref="Scheduler.Next"/> decided.</summary>
/// <param name="Work">Slots to fetch now.</param>
/// <param name="Refills">Windows to top up from the store.</param>
/// <param name="Started">Batches dispatched for the first time.</param>
/// <param name="WakeIn">
/// When a held host frees up, if work waits for it; or, when nothing waits sooner, when an idle host's hold has ended
/// (<see cref="Scheduler.IdleHoldSlack"/> after it), so that its entry is removed.
/// </param>
public sealed record Decision(IReadOnlyList<Dispatch> Work, IReadOnlyList<Refill> Refills, IReadOnlyList<Guid> Started, TimeSpan? WakeIn);

/// <summary>What <see cref="Scheduler.Complete"/> decided.</summary>
/// <param name="Next">The next slot of the same batch, to run at once.</param>
/// <param name="WakeLoop">Whether the engine's loop should call <see cref="Scheduler.Next"/>.</param>
/// <param name="BatchEnded">Whether the batch left the scheduler (nothing waiting, nothing in flight).</param>
public readonly record struct Completion(Dispatch? Next, bool WakeLoop, bool BatchEnded);
