using System.Diagnostics;
using System.Threading.Channels;
using FetchApi.Model;
using FetchApi.Telemetry;
using Microsoft.Extensions.Options;

namespace FetchApi.Engine;

/// <summary>
/// The hosted loop around the <see cref="Scheduler"/>: it asks the scheduler what runs next, runs those fetches, feeds
/// the scheduler from the store, and posts results to the <see cref="ResultWriter"/>. Every decision is the
/// scheduler's; this class does the I/O. On one node the store's pending slots are read in windows per batch
/// (<see cref="IWorkSource"/>); when several nodes share the store they are claimed with leases
/// (<see cref="IWorkClaims"/>, see <c>FetchEngine.Claims.cs</c>). A fetch aborted by shutdown writes nothing, so its
/// slot stays pending and is fetched again (at-least-once fetching, exactly-once results). A page the batch wants read
/// goes through the <see cref="CpuStage"/> on its way to the writer (<c>FetchEngine.Pages.cs</c>).
/// </summary>
public sealed partial class FetchEngine(
    Fetcher fetcher,
    ResultWriter writer,
    CpuStage cpu,
    Rates.HostRates rates,
    IWorkSource work,
    IEnumerable<IWorkClaims> claims,
    BatchChanges changes,
    FetchMetrics metrics,
    IOptions<EngineOptions> options,
    TimeProvider time,
    ILogger<FetchEngine> logger) : BackgroundService
{
    readonly EngineOptions _options = options.Value;
    readonly IWorkClaims? _claims = claims.FirstOrDefault();
    readonly Lock _gate = new();
    readonly Scheduler _scheduler = new(options.Value);
    readonly Dictionary<Guid, BatchRun> _runs = [];
    readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    readonly CancellationTokenSource _abort = new();
    readonly TaskCompletionSource _idle = new(TaskCreationOptions.RunContinuationsAsynchronously);
    bool _stopping;

    /// <summary>URLs accepted but not yet handed to a fetch, in memory or still in the store (the whole cluster's, with several nodes).</summary>
    public long Backlog
    {
        get
        {
            if (_claims is not null)
            {
                return Interlocked.Read(ref _clusterBacklog);
            }

            lock (_gate)
            {
                return _scheduler.Backlog;
            }
        }
    }

    /// <summary>Fetches running now.</summary>
    public int InFlight
    {
        get
        {
            lock (_gate)
            {
                return _scheduler.InFlight;
            }
        }
    }

    /// <summary>Whether the loop is running (false before start, after stop, or if it died).</summary>
    public bool IsRunning => ExecuteTask is { IsCompleted: false };

    /// <summary>The most URLs that may wait at once (<c>Engine:MaxBacklog</c>): a larger batch can never be admitted.</summary>
    public int MaxBacklog => _options.MaxBacklog;

    /// <summary>Whether batches that do not say obey robots.txt (<c>Engine:RespectRobotsTxtDefault</c>).</summary>
    public bool RespectRobotsTxtDefault => _options.RespectRobotsTxtDefault;

    /// <summary>Whether <paramref name="urls"/> more URLs fit under <c>Engine:MaxBacklog</c>.</summary>
    public bool HasRoomFor(int urls)
    {
        if (_claims is not null)
        {
            return Backlog + urls <= _options.MaxBacklog;
        }

        lock (_gate)
        {
            return _scheduler.HasRoomFor(urls);
        }
    }

    /// <summary>
    /// Hands a stored batch to the scheduler: <paramref name="pending"/> slots are pending in the store, the first ones
    /// (in index order) given in <paramref name="first"/>; the rest are read from the store as the window drains.
    /// A batch already running is left as it is. <paramref name="createdBy"/> is the request that created the batch:
    /// the batch's span links to it.
    /// </summary>
    public void Start(Guid batchId, FetchOptions batchOptions, int pending, IEnumerable<PendingSlot> first, ActivityContext createdBy = default)
    {
        if (_claims is not null)
        {
            // Several nodes: the batch is claimed from the store, by this node or another.
            Interlocked.Add(ref _clusterBacklog, pending);
            ClaimSoon();
            return;
        }

        lock (_gate)
        {
            if (_stopping || !_scheduler.Add(batchId, batchOptions.Concurrency, pending, first))
            {
                return;
            }

            var activity = FetchTracing.StartBatch(batchId, createdBy);
            activity?.SetTag("fetchapi.batch.pending", pending);
            _runs[batchId] = new BatchRun(batchOptions, activity, _abort.Token);
        }

        Wake();
    }

    /// <summary>Drops a batch's waiting slots and aborts its fetches in flight. Their results are not written.</summary>
    public void Cancel(Guid batchId)
    {
        BatchRun? run;
        lock (_gate)
        {
            if (!_scheduler.Cancel(batchId, time.GetUtcNow()) || !_runs.TryGetValue(batchId, out run))
            {
                return;
            }

            run.Activity?.SetTag("fetchapi.batch.cancelled", true);
            if (!_scheduler.IsScheduled(batchId))
            {
                End(batchId);
            }
        }

        // Outside the lock: cancellation callbacks abort sockets and may run continuations inline.
        run.Cancellation.Cancel();
        Wake();
    }

    void Wake() => _wake.Writer.TryWrite(true);

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        metrics.Observe(() => InFlight, () => Backlog);
        metrics.ObserveHosts("scheduler", () =>
        {
            lock (_gate)
            {
                return _scheduler.Hosts;
            }
        });
        changes.Cancelled += Cancel;
        if (_claims is not null)
        {
            // Several nodes: unfinished batches and expired leases are claimed like any other work.
            changes.WorkAdded += ClaimSoon;
            changes.Changed += ResultsCommitted;
            writer.Written += Written;
            _heartbeat = RenewLeasesAsync(CancellationToken.None);
            _recording = RecordSlowDownsAsync();
            await base.StartAsync(cancellationToken);
            return;
        }

        await ResumeAsync(cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Every line the loop and its fetches log names this node.
        using var node = logger.BeginScope(new Dictionary<string, object> { ["NodeId"] = _options.NodeId });
        LogNodeStarted(_options.NodeId, _claims is null ? "reads its own store" : "claims work from the shared store");
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                if (WriterBehind())
                {
                    // The store is not taking results: start nothing (claim nothing) until the writer catches up.
                    await WaitAsync(TimeSpan.FromMilliseconds(100), stoppingToken);
                    continue;
                }

                var claimIn = _claims is null ? null : await ClaimIfDueAsync(stoppingToken);
                Decision decision;
                List<(Dispatch Dispatch, BatchRun Run)> work;
                lock (_gate)
                {
                    decision = _scheduler.Next(time.GetUtcNow());
                    work = [.. decision.Work.Select(d => (d, _runs[d.BatchId]))];
                }

                foreach (var refill in decision.Refills)
                {
                    _ = RefillAsync(refill);
                }

                foreach (var batchId in decision.Started)
                {
                    writer.PostStarted(batchId, time.GetUtcNow());
                }

                foreach (var (dispatch, run) in work)
                {
                    _ = RunAsync(dispatch, run);
                }

                await WaitAsync(Earliest(decision.WakeIn, claimIn), stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            changes.Cancelled -= Cancel;
            changes.WorkAdded -= ClaimSoon;
            changes.Changed -= ResultsCommitted;
            writer.Written -= Written;
            await DrainAsync();
            await StopHeartbeatAsync();
        }
    }

    static TimeSpan? Earliest(TimeSpan? a, TimeSpan? b) => a is null ? b : b is null ? a : a < b ? a : b;

    async Task WaitAsync(TimeSpan? wakeIn, CancellationToken stoppingToken)
    {
        if (wakeIn is not { } delay)
        {
            await _wake.Reader.ReadAsync(stoppingToken);
            return;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(delay);
        try
        {
            await _wake.Reader.ReadAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// On shutdown: nothing new starts; fetches in flight get <c>Engine:ShutdownTimeout</c> to finish (their results are
    /// posted), then the rest are aborted and stay pending for the next start.
    /// </summary>
#pragma warning disable VSTHRD003 // _idle is completed by our own fetch tasks; ASP.NET Core has no synchronization context to deadlock on.
    async Task DrainAsync()
    {
        int inFlight;
        lock (_gate)
        {
            _stopping = true;
            _scheduler.Stop();
            inFlight = _scheduler.InFlight;
            if (inFlight == 0)
            {
                _idle.TrySetResult();
            }
        }

        if (inFlight == 0)
        {
            return;
        }

        LogDraining(inFlight);
        if (await Task.WhenAny(_idle.Task, Task.Delay(_options.ShutdownTimeout, time)) != _idle.Task)
        {
            LogAborting(InFlight);
            await _abort.CancelAsync();
            // Aborted fetches unwind quickly; wait for them so that no result is posted after the writer completes.
            await Task.WhenAny(_idle.Task, Task.Delay(TimeSpan.FromSeconds(5), time));
        }
    }
#pragma warning restore VSTHRD003

    /// <summary>
    /// Runs a fetch, then whatever the scheduler hands back for the same task (the next slot of the same batch while no
    /// other batch is waiting): one hop less per fetch than going back through the loop.
    /// </summary>
    async Task RunAsync(Dispatch dispatch, BatchRun run)
    {
        await Task.Yield();
        for (Dispatch? next = dispatch; next is { } current;)
        {
            await FetchOneAsync(current, run);
            Completion completion;
            // Behind: this chain ends here, and the loop (woken) holds further fetches until the writer catches up.
            var behind = writer.Behind;
            lock (_gate)
            {
                completion = _scheduler.Complete(current, time.GetUtcNow(), takeNext: !_stopping && !behind);
                if (completion.BatchEnded)
                {
                    End(current.BatchId);
                }

                if (_stopping && _scheduler.InFlight == 0)
                {
                    _idle.TrySetResult();
                }
            }

            next = completion.Next;
            if (completion.WakeLoop)
            {
                // Several nodes: the finished fetch no longer counts against the limits, so claim again soon.
                CapacityFreed();
                Wake();
            }
            else if (behind)
            {
                Wake();
            }
        }
    }

    /// <summary>
    /// Fetches one slot and posts its result to the writer, through the CPU stage when there is a page to read, unless
    /// the fetch was cancelled.
    /// </summary>
    async Task FetchOneAsync(Dispatch dispatch, BatchRun run)
    {
        var (batchId, host, slot) = dispatch;
        FetchedSlot fetched;
        try
        {
            using var scope = logger.BeginScope(new SlotScope(batchId, slot.Index));
            fetched = await fetcher.FetchAsync(slot, run.Options, new SlotHolds(this, host), run.Activity?.Context ?? default, run.Fetches.Token);
        }
        catch (Exception ex)
        {
            // The fetcher turns failures into results; reaching here is a bug, and the slot still gets a final result.
            LogFetchBug(ex, batchId, slot.Index);
            fetched = new FetchedSlot(new SlotResult
            {
                Index = slot.Index, Url = slot.Url, State = SlotState.Failed,
                Error = new FetchError(FetchErrorCode.InternalError, $"{ex.GetType().Name}: {ex.Message}"),
            });
        }

        // A cancelled result (batch cancelled, or aborted by shutdown) is not written: the store already marked the
        // slot cancelled, or the slot stays pending for the next start.
        if (fetched.Result.State == SlotState.Cancelled)
        {
            return;
        }

        metrics.Fetched(fetched.Result);
        var update = new SlotUpdate(batchId, fetched.Result);
        if (fetched.Page is { } page)
        {
            await HandOverAsync(dispatch, update, page, run, run.Fetches.Token);
            return;
        }

        Deliver(dispatch, update);
    }

    /// <summary>The batch left the scheduler: its span ends. Called under the lock.</summary>
    void End(Guid batchId)
    {
        if (_runs.Remove(batchId, out var run))
        {
            run.Dispose();
        }
    }

    public override void Dispose()
    {
        _abort.Dispose();
        _heartbeatStop.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Node {NodeId} started: the engine {Mode}")]
    partial void LogNodeStarted(string nodeId, string mode);

    [LoggerMessage(Level = LogLevel.Error, Message = "Fetch of batch {BatchId} slot {Index} threw; recorded as internal_error")]
    partial void LogFetchBug(Exception exception, Guid batchId, int index);

    [LoggerMessage(Level = LogLevel.Information, Message = "Shutting down: waiting for {Count} fetches in flight")]
    partial void LogDraining(int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shutdown timeout reached: aborting {Count} fetches; their slots stay pending")]
    partial void LogAborting(int count);
}
