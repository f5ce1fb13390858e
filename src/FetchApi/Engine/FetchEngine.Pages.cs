namespace FetchApi.Engine;

// Pages a batch wants read (options.extract) go through the CPU stage on their way to the writer.
public sealed partial class FetchEngine
{
    /// <summary>
    /// Hands a fetched page to the CPU stage; its result reaches the writer once the page was read. While the stage's
    /// queue is full this waits, and the fetch keeps its scheduler slot: no new fetch starts in its place (backpressure).
    /// Cancelled while waiting (batch cancelled, or shutdown aborting fetches), the result is not written, as for a
    /// cancelled fetch.
    /// </summary>
    async Task HandOverAsync(Dispatch dispatch, SlotUpdate update, byte[] page, BatchRun run, CancellationToken cancellationToken)
    {
        try
        {
            await cpu.EnqueueAsync(new CpuStage.Page(update, page, run.Options, read => Deliver(dispatch, read), run.Cancellation.Token),
                cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Posts a final result to the writer.</summary>
    void Deliver(Dispatch dispatch, SlotUpdate update)
    {
        if (_claims is not null)
        {
            // Counted before the writer can commit it: its commit takes the count back down.
            lock (_gate)
            {
                Finished(dispatch);
            }
        }

        writer.Post(update);
    }
}
