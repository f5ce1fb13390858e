namespace FetchApi.Engine;

/// <summary>The store as the result writer sees it.</summary>
public interface IResultSink
{
    /// <summary>
    /// Records results and start times atomically. A slot that is no longer pending (cancelled meanwhile, or already
    /// written by anyone) is left alone, so each slot is final exactly once. A batch with no pending slot left becomes
    /// completed; a batch with a start time becomes running if it was queued.
    /// </summary>
    Task<WriteResult> WriteAsync(IReadOnlyList<SlotUpdate> results, IReadOnlyList<BatchStarted> started, DateTimeOffset now,
        CancellationToken cancellationToken);
}
