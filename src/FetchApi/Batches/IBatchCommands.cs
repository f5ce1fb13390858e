using FetchApi.Callbacks;
using FetchApi.Model;

namespace FetchApi.Batches;

/// <summary>A batch as accepted: its slots are all pending. <paramref name="Owner"/> is the API key's name, or null when the service is open.</summary>
public sealed record NewBatch(Guid Id, DateTimeOffset CreatedAt, FetchOptions Options, IReadOnlyList<string> Urls, string? Owner = null,
    Callback? Callback = null);

/// <summary>An <c>Idempotency-Key</c> with a fingerprint of the request it came with.</summary>
public sealed record IdempotencyKey(string Key, string RequestHash, TimeSpan Lifetime);

public enum CreateOutcome { Created, Replayed, KeyReusedWithDifferentRequest, NotAdmitted }

/// <summary>What a create did: stored the batch, or found the one an earlier request with the same key created.</summary>
public sealed record CreateResult(CreateOutcome Outcome, Guid BatchId);

public enum CancelOutcome { NotFound, Cancelled, AlreadyCancelled, AlreadyCompleted }

/// <summary>
/// The store as the batch service changes it. Every method is atomic. Changes take the caller's owner (API key name,
/// or null when the service is open): a batch of another owner does not exist for them.
/// </summary>
public interface IBatchCommands
{
    /// <summary>
    /// Stores a batch and all its slots atomically. With an idempotency key already used by this owner within its
    /// lifetime, stores nothing and returns the earlier batch (same request) or a conflict (different request).
    /// Otherwise <paramref name="admit"/> decides whether a new batch may be stored (the engine's backlog bound), so
    /// that a retry of an accepted request is replayed even when new work is refused.
    /// </summary>
    Task<CreateResult> CreateAsync(NewBatch batch, IdempotencyKey? idempotencyKey, Func<bool> admit, CancellationToken cancellationToken);

    /// <summary>Marks every pending slot cancelled and the batch cancelled, unless it already ended.</summary>
    Task<(CancelOutcome Outcome, BatchSummary? Summary)> CancelAsync(Guid id, string? owner, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Deletes the batch and its slots; false when the owner has no such batch.</summary>
    Task<bool> DeleteAsync(Guid id, string? owner, CancellationToken cancellationToken);
}
