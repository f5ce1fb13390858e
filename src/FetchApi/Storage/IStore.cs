namespace FetchApi.Storage;

/// <summary>The store as hosting sees it: its schema on start, its health, and its close on stop.</summary>
public interface IStore
{
    /// <summary>Creates the schema or upgrades an older one.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Whether the store answers a read and accepts a write.</summary>
    Task CheckAsync(CancellationToken cancellationToken);

    /// <summary>Releases connections; called last on shutdown.</summary>
    void Close();
}

/// <summary>The store as the retention sweep sees it.</summary>
public interface IRetentionStore
{
    /// <summary>
    /// Deletes up to <paramref name="limit"/> batches that ended before <paramref name="endedBefore"/> and have no
    /// callback still to deliver, and idempotency keys expired at <paramref name="now"/>; returns how many batches.
    /// </summary>
    Task<int> DeleteEndedBeforeAsync(DateTimeOffset endedBefore, DateTimeOffset now, int limit, CancellationToken cancellationToken);
}
