using FetchApi.Model;

namespace FetchApi.Callbacks;

/// <summary>Where to POST the summary when a batch ends, and the secret that signs it.</summary>
public sealed record Callback(string Url, string Secret);

/// <summary>Delivery state of a batch's callback.</summary>
public enum CallbackState { None = 0, Pending = 1, Delivered = 2, GaveUp = 3 }

/// <summary>An ended batch whose callback is due, with the summary to send.</summary>
public sealed record DueCallback(Callback Callback, int Attempts, BatchSummary Summary);

/// <summary>The store as the callback dispatcher sees it: callbacks still to deliver, and what became of each attempt.</summary>
public interface ICallbackOutbox
{
    /// <summary>
    /// Up to <paramref name="limit"/> callbacks that are pending and due at <paramref name="now"/>: the batch has ended
    /// and the next attempt time recorded by <see cref="RecordAsync"/> has come (a callback never attempted is due
    /// when its batch ends). Each is handed to one caller at a time: it is not due again for <paramref name="claimFor"/>
    /// (the caller's round), so several nodes never deliver the same callback at once.
    /// </summary>
    Task<IReadOnlyList<DueCallback>> GetDueAsync(DateTimeOffset now, TimeSpan claimFor, int limit, CancellationToken cancellationToken);

    /// <summary>Records a delivery round: the callback's new state, attempts so far, and when it is due again if still pending.</summary>
    Task RecordAsync(Guid batchId, CallbackState state, int attempts, DateTimeOffset? nextAttemptAt, CancellationToken cancellationToken);
}
