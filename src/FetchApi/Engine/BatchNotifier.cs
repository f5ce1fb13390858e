using System.Collections.Concurrent;

namespace FetchApi.Engine;

/// <summary>
/// Tells waiters (Prefer: wait, event streams, callbacks) that a batch changed in the store. A waiter subscribes
/// first, then reads the store, then awaits: a change between its read and its wait is never missed.
/// </summary>
public sealed class BatchNotifier
{
    readonly ConcurrentDictionary<Guid, TaskCompletionSource> _waiters = new();

    /// <summary>A task that completes at the next change of <paramref name="batchId"/>.</summary>
    public Task NextChange(Guid batchId) =>
        _waiters.GetOrAdd(batchId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    /// <summary>A waiter that stops waiting removes its entry, unless a change already replaced it.</summary>
    public void Forget(Guid batchId, Task change)
    {
        if (_waiters.TryGetValue(batchId, out var waiter) && waiter.Task == change)
        {
            _waiters.TryRemove(KeyValuePair.Create(batchId, waiter)); // only if no change replaced it meanwhile
        }
    }

    public void Changed(IEnumerable<Guid> batchIds)
    {
        foreach (var id in batchIds)
        {
            if (_waiters.TryRemove(id, out var waiter))
            {
                waiter.TrySetResult();
            }
        }
    }

    /// <summary>Raised after a write, with the batches whose final state may have changed (for callbacks).</summary>
    public event Action<IReadOnlyCollection<Guid>>? BatchesWritten;

    internal void Written(IReadOnlyCollection<Guid> batchIds)
    {
        Changed(batchIds);
        BatchesWritten?.Invoke(batchIds);
    }
}
