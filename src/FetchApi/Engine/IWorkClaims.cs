using FetchApi.Model;

namespace FetchApi.Engine;

/// <summary>Slots claimed for one batch: leased to this node until the lease runs out or is renewed.</summary>
public sealed record ClaimedBatch(Guid Id, FetchOptions Options, IReadOnlyList<PendingSlot> Slots);

/// <summary>A host's adaptive slow-down (the spacing between request starts) as a node recorded it at <paramref name="At"/>.</summary>
public readonly record struct HostSlowDown(string Host, TimeSpan SlowDown, DateTimeOffset At);

/// <summary>What one claim got, and how many URLs the whole cluster still has pending.</summary>
/// <param name="Batches">Claimed slots, by batch.</param>
/// <param name="ClusterBacklog">Pending slots of every unfinished batch, claimed or not.</param>
/// <param name="TakenOver">Leases taken from incarnations that died or stopped renewing.</param>
/// <param name="SlowDowns">Slow-downs other nodes recorded lately: a host that moved here keeps its owner's.</param>
public sealed record Claim(IReadOnlyList<ClaimedBatch> Batches, long ClusterBacklog, int TakenOver, IReadOnlyList<HostSlowDown>? SlowDowns = null);

/// <summary>
/// The store as the engine sees it when several nodes share it: work is claimed, not read. A claim hands this node
/// pending slots to start now, leased to it for <c>Engine:LeaseDuration</c>: fairly across batches (those with the
/// fewest fetches in flight first), and never more than a batch's <c>concurrency</c> or a host's
/// <c>Engine:PerHostConcurrency</c> in flight across the cluster, nor any host held by a <c>Retry-After</c>. A slot
/// whose lease expired (its node died) can be claimed again. Results are written only while the claim is held.
/// </summary>
public interface IWorkClaims
{
    /// <summary>
    /// Claims up to <paramref name="capacity"/> slots for this node. <paramref name="unwritten"/> names this node's
    /// finished slots whose results may not be committed yet: their leases do not count against the limits.
    /// </summary>
    Task<Claim> ClaimAsync(int capacity, DateTimeOffset now, Func<Unwritten> unwritten, CancellationToken cancellationToken);

    /// <summary>Extends every lease this node holds on a pending slot; returns how many.</summary>
    Task<int> RenewAsync(DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// On a clean stop, after the last result was written: gives up this node's remaining leases (slots aborted by the
    /// shutdown) so that other nodes take them at once, and stops counting this node as alive.
    /// </summary>
    Task ReleaseAsync(CancellationToken cancellationToken);

    /// <summary>Holds <paramref name="host"/> back for every node until <paramref name="until"/> (an upstream's Retry-After).</summary>
    Task HoldHostAsync(string host, DateTimeOffset until, CancellationToken cancellationToken);

    /// <summary>Records the hosts this node slows down now, so that a node that takes one of them over keeps slowing it.</summary>
    Task RecordSlowDownsAsync(IReadOnlyList<HostSlowDown> slowed, CancellationToken cancellationToken);
}
