namespace FetchApi.Engine;

// One node on its own store: the engine reads pending slots in windows per batch (see IWorkSource).
public sealed partial class FetchEngine
{
    /// <summary>Resumes what a previous process accepted but did not finish, before the API takes new batches.</summary>
    async Task ResumeAsync(CancellationToken cancellationToken)
    {
        foreach (var batch in await work.GetUnfinishedAsync(cancellationToken))
        {
            var first = await work.GetPendingAsync(batch.Id, -1, _scheduler.Window(batch.Options.Concurrency), cancellationToken);
            if (first.Count == 0)
            {
                // Every slot is final but the status was not updated yet: a write for the batch completes it.
                writer.PostStarted(batch.Id, time.GetUtcNow());
                continue;
            }

            LogResuming(batch.Id, batch.Pending);
            Start(batch.Id, batch.Options, batch.Pending, first);
        }
    }

    async Task RefillAsync(Refill refill)
    {
        await Task.Yield();
        IReadOnlyList<PendingSlot> page;
        try
        {
            page = await work.GetPendingAsync(refill.BatchId, refill.AfterIndex, refill.Limit, CancellationToken.None);
        }
        catch (Exception ex)
        {
            // Nothing was learnt about the store: keep every count, and let the scheduler ask again after a pause.
            LogRefillFailed(ex, refill.BatchId);
            await Task.Delay(TimeSpan.FromSeconds(1), time);
            lock (_gate)
            {
                _scheduler.RefillFailed(refill.BatchId);
            }

            Wake();
            return;
        }

        lock (_gate)
        {
            if (_scheduler.Refilled(refill.BatchId, page))
            {
                End(refill.BatchId);
            }
        }

        Wake();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Resuming batch {BatchId}: {Pending} slots still pending")]
    partial void LogResuming(Guid batchId, int pending);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading pending slots of batch {BatchId} failed; will retry")]
    partial void LogRefillFailed(Exception exception, Guid batchId);
}
