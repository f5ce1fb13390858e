namespace FetchApi.Engine;

/// <summary>The store as the engine reads it: what is left to fetch.</summary>
public interface IWorkSource
{
    /// <summary>Batches that are queued or running, oldest first, with how many slots each still has pending.</summary>
    Task<IReadOnlyList<UnfinishedBatch>> GetUnfinishedAsync(CancellationToken cancellationToken);

    /// <summary>Up to <paramref name="limit"/> pending slots of a batch with an index above <paramref name="afterIndex"/>, in index order.</summary>
    Task<IReadOnlyList<PendingSlot>> GetPendingAsync(Guid batchId, int afterIndex, int limit, CancellationToken cancellationToken);
}
