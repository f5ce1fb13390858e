namespace FetchApi.Model;

/// <summary>
/// Whether the store has opened and the background parts have started. A start on a store that cannot be opened yet
/// (a read-only mount, PostgreSQL still starting) does not fail: the service runs, live, not ready, and answers every
/// batch operation 503 store_unavailable until the store opens.
/// </summary>
public sealed class StoreOpening
{
    volatile StoreUnavailableException? _waiting;

    /// <summary>Why the store is not open yet; null once it is.</summary>
    public StoreUnavailableException? Waiting => _waiting;

    public void Wait(StoreUnavailableException why) => _waiting = why;

    public void Opened() => _waiting = null;

    /// <summary>Throws a fresh <see cref="StoreUnavailableException"/> while the store is not open.</summary>
    public void EnsureOpen()
    {
        if (_waiting is { } why)
        {
            throw new StoreUnavailableException(why.InnerException!, why.Fault);
        }
    }
}
