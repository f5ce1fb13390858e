using System.Collections.Concurrent;

namespace FetchApi.Engine;

/// <summary>
/// The one signal that batches changed in the store: results written, a batch started, cancelled or deleted. Waiters
/// (<c>Prefer: wait</c>, event streams) subscribe first, then read the store, then await, so a change between their
/// read and their wait is never missed; listeners (callbacks) hear every change through <see cref="Changed"/>.
/// </summary>
public sealed class BatchChanges
{
    readonly ConcurrentDictionary<Guid, TaskCompletionSource> _waiters = new();

    /// <summary>Raised after every change, with the batches it touched.</summary>
    public event Action<IReadOnlyCollection<Guid>>? Changed;

    /// <summary>Raised when a change ended a batch (completed, cancelled): its callback may be due.</summary>
    public event Action? Ended;

    /// <summary>A task that completes at the next change of <paramref name="batchId"/>.</summary>
    public Task Next(Guid batchId) =>
        _waiters.GetOrAdd(batchId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    /// <summary>A waiter that stops waiting removes its entry, unless a change already replaced it.</summary>
    public void Forget(Guid batchId, Task change)
    {
        if (_waiters.TryGetValue(batchId, out var waiter) && waiter.Task == change)
        {
            _waiters.TryRemove(KeyValuePair.Create(batchId, waiter)); // only if no change replaced it meanwhile
        }
    }

    /// <summary>Raised when a batch was cancelled or deleted, possibly by another node: fetches of it stop.</summary>
    public event Action<Guid>? Cancelled;

    /// <summary>Raised when another node stored a new batch: there may be work to claim.</summary>
    public event Action? WorkAdded;

    /// <summary>A batch was cancelled or deleted (on any node).</summary>
    public void PublishCancelled(Guid batchId)
    {
        Cancelled?.Invoke(batchId);
        Publish([batchId], ended: true);
    }

    /// <summary>Anything may have changed (notifications were lost, e.g. while reconnecting to the store): every waiter reads again.</summary>
    public void PublishAll()
    {
        var ids = _waiters.Keys.ToList();
        Publish(ids, ended: true);
        WorkAdded?.Invoke();
    }

    /// <summary>A batch was stored (on any node).</summary>
    public void PublishWorkAdded() => WorkAdded?.Invoke();

    /// <summary>Tells waiters and listeners that <paramref name="batchIds"/> changed in the store, and whether that ended any.</summary>
    public void Publish(IReadOnlyCollection<Guid> batchIds, bool ended = false)
    {
        foreach (var id in batchIds)
        {
            if (_waiters.TryRemove(id, out var waiter))
            {
                waiter.TrySetResult();
            }
        }

        Changed?.Invoke(batchIds);
        if (ended)
        {
            Ended?.Invoke();
        }
    }
}
