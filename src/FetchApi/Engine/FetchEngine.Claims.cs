namespace FetchApi.Engine;

// Several nodes on one store: the engine claims work instead of reading it (see IWorkClaims).
public sealed partial class FetchEngine
{
    readonly CancellationTokenSource _heartbeatStop = new();
    Task _heartbeat = Task.CompletedTask;
    long _clusterBacklog;
    // Ticks of the time the next claim is due; a new batch or committed results bring it forward.
    long _nextClaimTicks;
    long _lastClaimTicks;
    // Slots finished here whose results are not known to be committed yet (under _gate): their leases still count in
    // the store until the writer's transaction returns.
    readonly HashSet<(Guid BatchId, int Index)> _finished = [];

    // Bumped by every commit or new batch: a claim that found nothing while one happened looks again soon, not idly.
    long _changes;

    /// <summary>A batch was stored (here or on another node): claim at once.</summary>
    void ClaimSoon()
    {
        Interlocked.Increment(ref _changes);
        Interlocked.Exchange(ref _nextClaimTicks, 0);
        Wake();
    }

    /// <summary>
    /// Results were committed (here or on another node): their leases no longer count as fetches in flight, so a
    /// batch or host that was at its limit has room again.
    /// </summary>
    void ResultsCommitted(IReadOnlyCollection<Guid> batchIds)
    {
        Interlocked.Increment(ref _changes);
        CapacityFreed();
        Wake();
    }

    /// <summary>A fetch finished and its result is queued for the writer (called under _gate).</summary>
    void Finished(Dispatch dispatch) => _finished.Add((dispatch.BatchId, dispatch.Slot.Index));

    /// <summary>The writer's transaction returned: these slots' leases are gone from the store (or never will be).</summary>
    void Written(IReadOnlyList<SlotUpdate> results)
    {
        lock (_gate)
        {
            foreach (var result in results)
            {
                _finished.Remove((result.BatchId, result.Result.Index));
            }
        }
    }

    /// <summary>The finished slots whose results are not known to be committed, for a claim.</summary>
    Unwritten UnwrittenNow()
    {
        lock (_gate)
        {
            return new Unwritten([.. _finished.Select(f => f.BatchId)], [.. _finished.Select(f => f.Index)]);
        }
    }

    /// <summary>
    /// Capacity is free again: claim as soon as <c>Engine:ClaimInterval</c> has passed since the last claim (claims of a
    /// busy node go in groups, one per interval at most).
    /// </summary>
    void CapacityFreed()
    {
        if (_claims is null)
        {
            return;
        }

        var soon = Math.Max(Interlocked.Read(ref _lastClaimTicks) + _options.ClaimInterval.Ticks, time.GetUtcNow().UtcTicks);
        var current = Interlocked.Read(ref _nextClaimTicks);
        while (soon < current)
        {
            var seen = Interlocked.CompareExchange(ref _nextClaimTicks, soon, current);
            if (seen == current)
            {
                break;
            }

            current = seen;
        }
    }

    /// <summary>
    /// Claims what this node has room for, if a claim is due; returns when the next one is due (null when the node is
    /// full: a finished fetch wakes the loop).
    /// </summary>
    async Task<TimeSpan?> ClaimIfDueAsync(CancellationToken stoppingToken)
    {
        var now = time.GetUtcNow();
        int free;
        lock (_gate)
        {
            free = _options.GlobalConcurrency - _scheduler.InFlight - (int)_scheduler.Backlog;
        }

        if (free <= 0)
        {
            return null;
        }

        var due = new DateTimeOffset(Interlocked.Read(ref _nextClaimTicks), TimeSpan.Zero);
        if (due > now)
        {
            return due - now;
        }

        Claim claim;
        Interlocked.Exchange(ref _lastClaimTicks, now.UtcTicks);
        var changesBefore = Interlocked.Read(ref _changes);
        try
        {
            claim = await _claims!.ClaimAsync(free, now, UnwrittenNow, stoppingToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            LogClaimFailed(ex);
            Interlocked.Exchange(ref _nextClaimTicks, (now + TimeSpan.FromSeconds(1)).UtcTicks);
            return TimeSpan.FromSeconds(1);
        }

        Interlocked.Exchange(ref _clusterBacklog, claim.ClusterBacklog);
        Adopt(claim.SlowDowns);
        var claimed = 0;
        lock (_gate)
        {
            foreach (var batch in claim.Batches)
            {
                _scheduler.Offer(batch.Id, batch.Options.Concurrency, batch.Slots);
                if (_scheduler.IsScheduled(batch.Id) && !_runs.ContainsKey(batch.Id))
                {
                    _runs[batch.Id] = new BatchRun(batch.Options, Telemetry.FetchTracing.StartBatch(batch.Id, default), _abort.Token);
                }

                claimed += batch.Slots.Count;
            }
        }

        metrics.Leases("claimed", claimed);
        metrics.Leases("taken_over", claim.TakenOver);
        // Work claimed: more may follow soon. Nothing: look again later, or when a batch is stored or a fetch ends.
        var next = claimed > 0 || Interlocked.Read(ref _changes) != changesBefore ? _options.ClaimInterval : _options.IdleClaimInterval;
        Interlocked.Exchange(ref _nextClaimTicks, (now + next).UtcTicks);
        return next;
    }

    /// <summary>Renews this node's leases every third of <c>Engine:LeaseDuration</c> until the engine has drained.</summary>
    async Task RenewLeasesAsync(CancellationToken cancellationToken)
    {
        await Task.Yield();
        using var timer = new PeriodicTimer(_options.LeaseDuration / 3, time);
        try
        {
            while (await timer.WaitForNextTickAsync(_heartbeatStop.Token))
            {
                try
                {
                    metrics.Leases("renewed", await _claims!.RenewAsync(time.GetUtcNow(), cancellationToken));
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    LogRenewFailed(ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    async Task HoldEverywhereAsync(string host, DateTimeOffset until)
    {
        try
        {
            await _claims!.HoldHostAsync(host, until, CancellationToken.None);
        }
        catch (Exception ex)
        {
            LogHoldFailed(ex, host);
        }
    }

    /// <summary>Stops renewing leases once nothing is in flight any more.</summary>
    async Task StopHeartbeatAsync()
    {
        await _heartbeatStop.CancelAsync();
#pragma warning disable VSTHRD003 // the heartbeat is our own task, started in StartAsync; no synchronization context here.
        await _heartbeat;
        await _recording;
#pragma warning restore VSTHRD003
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Claiming work failed; trying again in 1 s")]
    partial void LogClaimFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Renewing leases failed; trying again at the next tick")]
    partial void LogRenewFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Recording the Retry-After hold of {Host} for the cluster failed")]
    partial void LogHoldFailed(Exception exception, string host);
}
