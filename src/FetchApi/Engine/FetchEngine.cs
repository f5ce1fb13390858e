using System.Diagnostics;
using System.Threading.Channels;
using FetchApi.Model;
using FetchApi.Storage;
using FetchApi.Telemetry;
using Microsoft.Extensions.Options;

namespace FetchApi.Engine;

/// <summary>
/// The scheduler. It hands out pending slots round-robin across active batches (one slot per batch per turn, so a
/// small batch is never stuck behind a large one) and, within a batch, round-robin across hosts, under three limits
/// at once: global, per batch (<c>options.concurrency</c>) and per host. A host that sent Retry-After is skipped until
/// then. Each batch keeps only a window of its pending slots in memory; the rest is read from the store as the window
/// drains. Results go to the <see cref="ResultWriter"/>; a fetch aborted by shutdown writes nothing, so its slot stays
/// pending and is fetched again after a restart (at-least-once fetching, exactly-once results).
/// </summary>
public sealed partial class FetchEngine(
    Fetcher fetcher,
    ResultWriter writer,
    IBatchStore store,
    FetchMetrics metrics,
    IOptions<EngineOptions> options,
    TimeProvider time,
    ILogger<FetchEngine> logger) : BackgroundService
{
    readonly EngineOptions _options = options.Value;
    readonly Lock _gate = new();
    readonly List<BatchRun> _runs = [];
    readonly Dictionary<Guid, BatchRun> _byId = [];
    readonly HashSet<(Guid Id, DateTimeOffset At)> _cancelledEarly = [];
    readonly Dictionary<string, HostState> _hosts = new(StringComparer.OrdinalIgnoreCase);
    readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    readonly CancellationTokenSource _abort = new();
    readonly TaskCompletionSource _idle = new(TaskCreationOptions.RunContinuationsAsynchronously);
    int _cursor;
    int _globalInFlight;
    long _backlog;
    bool _stopping;

    /// <summary>URLs accepted but not yet handed to a fetch, in memory or still in the store.</summary>
    public long Backlog => Interlocked.Read(ref _backlog);

    /// <summary>Fetches running now.</summary>
    public int InFlight => Volatile.Read(ref _globalInFlight);

    /// <summary>Whether the scheduler loop is running (false before start, after stop, or if it died).</summary>
    public bool IsRunning => ExecuteTask is { IsCompleted: false };

    /// <summary>Whether <paramref name="urls"/> more URLs fit under <c>Engine:MaxBacklog</c>.</summary>
    public bool HasRoomFor(int urls) => Backlog + urls <= _options.MaxBacklog;

    sealed class HostState
    {
        public int InFlight;
        public DateTimeOffset NotBefore;
    }

    sealed class BatchRun(Guid id, BatchOptions options, int pending)
    {
        public Guid Id { get; } = id;
        public BatchOptions Options { get; } = options;
        public CancellationTokenSource Cancellation { get; } = new();
        public Activity? Activity { get; set; }
        public Dictionary<string, Queue<PendingSlot>> Queues { get; } = new(StringComparer.OrdinalIgnoreCase);
        public List<string> Hosts { get; } = [];
        public int HostCursor;
        /// <summary>Slots in memory, waiting.</summary>
        public int Queued;
        /// <summary>Slots not yet handed to a fetch: in memory or still in the store.</summary>
        public int NotDispatched = pending;
        public int InFlight;
        public int LastLoadedIndex = -1;
        public bool Refilling;
        public bool Started;
        public bool Cancelled;

        public void Enqueue(PendingSlot slot)
        {
            var host = HostKey(slot.Url);
            if (!Queues.TryGetValue(host, out var queue))
            {
                Queues[host] = queue = new Queue<PendingSlot>();
                Hosts.Add(host);
            }

            queue.Enqueue(slot);
            Queued++;
            LastLoadedIndex = Math.Max(LastLoadedIndex, slot.Index);
        }
    }

    readonly record struct Work(BatchRun Run, string Host, PendingSlot Slot);

    /// <summary>How many pending slots of one batch are kept in memory at most.</summary>
    int Window(BatchOptions batchOptions) => Math.Max(_options.WindowSize, 2 * batchOptions.Concurrency);

    /// <summary>
    /// Hands a stored batch to the scheduler: <paramref name="pending"/> slots are pending in the store, the first ones
    /// (in index order) given in <paramref name="first"/>; the rest are read from the store as the window drains.
    /// A batch already running is left as it is. <paramref name="createdBy"/> is the request that created the batch:
    /// the batch's span links to it.
    /// </summary>
    public void Start(Guid batchId, BatchOptions batchOptions, int pending, IEnumerable<PendingSlot> first, ActivityContext createdBy = default)
    {
        var run = new BatchRun(batchId, batchOptions, pending);
        foreach (var slot in first.Take(Window(batchOptions)))
        {
            run.Enqueue(slot);
        }

        lock (_gate)
        {
            if (_stopping || pending == 0 || _cancelledEarly.Any(e => e.Id == batchId) || !_byId.TryAdd(batchId, run))
            {
                return;
            }

            _runs.Add(run);
            Interlocked.Add(ref _backlog, pending);
            run.Activity = FetchTracing.StartBatch(batchId, createdBy);
            run.Activity?.SetTag("fetchapi.batch.pending", pending);
        }

        Wake();
    }

    /// <summary>Drops a batch's waiting slots and aborts its fetches in flight. Their results are not written.</summary>
    public void Cancel(Guid batchId)
    {
        BatchRun? run;
        lock (_gate)
        {
            if (!_byId.TryGetValue(batchId, out run))
            {
                // Cancelled (or deleted) between its commit and its Start: Start must not run it.
                var now = time.GetUtcNow();
                _cancelledEarly.RemoveWhere(e => now - e.At > TimeSpan.FromMinutes(1));
                _cancelledEarly.Add((batchId, now));
                return;
            }

            Interlocked.Add(ref _backlog, -run.NotDispatched);
            run.Cancelled = true;
            run.Activity?.SetTag("fetchapi.batch.cancelled", true);
            run.NotDispatched = 0;
            run.Queued = 0;
            run.Queues.Clear();
            run.Hosts.Clear();
            RemoveIfDone(run);
        }

        // Outside the lock: cancellation callbacks abort sockets and may run continuations inline.
        run.Cancellation.Cancel();
        Wake();
    }

    static string HostKey(string url) => Uri.TryCreate(url, UriKind.Absolute, out var uri) ? $"{uri.IdnHost}:{uri.Port}" : url;

    void Wake() => _wake.Writer.TryWrite(true);

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        metrics.Observe(() => InFlight, () => Backlog);
        // Resume what a previous process accepted but did not finish, before the API takes new batches.
        foreach (var batch in await store.GetUnfinishedAsync(cancellationToken))
        {
            var first = await store.GetPendingSlotsAsync(batch.Id, -1, Window(batch.Options), cancellationToken);
            if (first.Count == 0)
            {
                // Every slot is final but the status was not updated yet: a write for the batch completes it.
                writer.PostStarted(batch.Id, time.GetUtcNow());
                continue;
            }

            LogResuming(batch.Id, batch.Pending);
            Start(batch.Id, batch.Options, batch.Pending, first);
        }

        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                List<Work> work;
                List<BatchRun> refill;
                TimeSpan? wakeIn;
                lock (_gate)
                {
                    work = TakeWork(time.GetUtcNow(), out wakeIn, out refill);
                }

                foreach (var run in refill)
                {
                    _ = RefillAsync(run);
                }

                foreach (var item in work)
                {
                    if (!item.Run.Started)
                    {
                        item.Run.Started = true;
                        writer.PostStarted(item.Run.Id, time.GetUtcNow());
                    }

                    _ = RunAsync(item);
                }

                await WaitAsync(wakeIn, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            await DrainAsync();
            writer.Complete();
        }
    }

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
    /// written), then the rest are aborted and stay pending for the next start.
    /// </summary>
#pragma warning disable VSTHRD003 // _idle is completed by our own fetch tasks; ASP.NET Core has no synchronization context to deadlock on.
    async Task DrainAsync()
    {
        int inFlight;
        lock (_gate)
        {
            _stopping = true;
            inFlight = _globalInFlight;
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

    List<Work> TakeWork(DateTimeOffset now, out TimeSpan? wakeIn, out List<BatchRun> refill)
    {
        var work = new List<Work>();
        refill = [];
        DateTimeOffset? earliest = null;
        var progress = true;
        while (progress && _globalInFlight < _options.GlobalConcurrency && _runs.Count > 0)
        {
            progress = false;
            for (var i = 0; i < _runs.Count && _globalInFlight < _options.GlobalConcurrency; i++)
            {
                var run = _runs[(_cursor + i) % _runs.Count];
                if (run.InFlight >= run.Options.Concurrency || run.Queued == 0)
                {
                    continue;
                }

                if (TryTake(run, now, ref earliest) is { } item)
                {
                    work.Add(item);
                    progress = true;
                }
            }

            _cursor = _runs.Count == 0 ? 0 : (_cursor + 1) % _runs.Count;
        }

        foreach (var run in _runs)
        {
            // Top the window up from the store once it is half empty.
            if (!run.Refilling && run.NotDispatched > run.Queued && run.Queued < Window(run.Options) / 2)
            {
                run.Refilling = true;
                refill.Add(run);
            }
        }

        wakeIn = earliest is { } at ? at - now : null;
        return work;
    }

    Work? TryTake(BatchRun run, DateTimeOffset now, ref DateTimeOffset? earliest)
    {
        for (var i = 0; i < run.Hosts.Count; i++)
        {
            var index = (run.HostCursor + i) % run.Hosts.Count;
            var host = run.Hosts[index];
            var state = _hosts.GetValueOrDefault(host);
            if (state is not null && state.InFlight >= _options.PerHostConcurrency)
            {
                continue;
            }

            if (state is not null && state.NotBefore > now)
            {
                earliest = earliest is { } e && e < state.NotBefore ? e : state.NotBefore;
                continue;
            }

            if (state is null)
            {
                _hosts[host] = state = new HostState();
            }

            var queue = run.Queues[host];
            var slot = queue.Dequeue();
            if (queue.Count == 0)
            {
                run.Queues.Remove(host);
                run.Hosts.RemoveAt(index);
                run.HostCursor = run.Hosts.Count == 0 ? 0 : index % run.Hosts.Count;
            }
            else
            {
                run.HostCursor = (index + 1) % run.Hosts.Count;
            }

            run.Queued--;
            run.NotDispatched--;
            run.InFlight++;
            state.InFlight++;
            _globalInFlight++;
            Interlocked.Decrement(ref _backlog);
            return new Work(run, host, slot);
        }

        return null;
    }

    async Task RefillAsync(BatchRun run)
    {
        await Task.Yield();
        IReadOnlyList<PendingSlot> page;
        try
        {
            page = await store.GetPendingSlotsAsync(run.Id, run.LastLoadedIndex, Window(run.Options) - run.Queued, CancellationToken.None);
        }
        catch (Exception ex)
        {
            // Nothing was learnt about the store: keep every count, and let the scheduler ask again after a pause.
            LogRefillFailed(ex, run.Id);
            await Task.Delay(TimeSpan.FromSeconds(1), time);
            lock (_gate)
            {
                run.Refilling = false;
            }

            Wake();
            return;
        }

        lock (_gate)
        {
            run.Refilling = false;
            if (!run.Cancelled)
            {
                foreach (var slot in page.Where(s => s.Index > run.LastLoadedIndex))
                {
                    run.Enqueue(slot);
                }

                if (page.Count == 0 && run.NotDispatched > run.Queued)
                {
                    // The store holds no more pending slots than we have in memory: the rest were final already.
                    Interlocked.Add(ref _backlog, run.Queued - run.NotDispatched);
                    run.NotDispatched = run.Queued;
                    RemoveIfDone(run);
                }
            }
        }

        Wake();
    }

    /// <summary>
    /// Runs a fetch, then the next slot of the same batch in the same task, as long as no other batch is waiting for a
    /// slot: one hop less per fetch than going back through the scheduler. When another batch could use the freed
    /// slot, it goes back to the scheduler, which shares slots round-robin across batches.
    /// </summary>
    async Task RunAsync(Work work)
    {
        await Task.Yield();
        for (Work? next = work; next is { } current;)
        {
            await FetchOneAsync(current);
            var (run, host, _) = current;
            var wake = true;
            lock (_gate)
            {
                run.InFlight--;
                var state = _hosts[host];
                state.InFlight--;
                if (state.InFlight == 0 && state.NotBefore <= time.GetUtcNow())
                {
                    _hosts.Remove(host);
                }

                _globalInFlight--;
                next = null;
                if (!_stopping && run.Queued > 0 && !OthersWaiting(run))
                {
                    DateTimeOffset? ignored = null;
                    next = TryTake(run, time.GetUtcNow(), ref ignored);
                    // The scheduler still has to run when the window needs topping up.
                    wake = next is null || (!run.Refilling && run.NotDispatched > run.Queued && run.Queued < Window(run.Options) / 2);
                }

                RemoveIfDone(run);
                if (_stopping && _globalInFlight == 0)
                {
                    _idle.TrySetResult();
                }
            }

            if (wake)
            {
                Wake();
            }
        }
    }

    /// <summary>Whether a batch other than <paramref name="run"/> has slots waiting and room to run them.</summary>
    bool OthersWaiting(BatchRun run)
    {
        if (_runs.Count == 1)
        {
            return false;
        }

        foreach (var other in _runs)
        {
            if (other != run && other.Queued > 0 && other.InFlight < other.Options.Concurrency)
            {
                return true;
            }
        }

        return false;
    }

    async Task FetchOneAsync(Work work)
    {
        var (run, host, slot) = work;
        SlotResult result;
        try
        {
            using var scope = logger.BeginScope(new SlotScope(run.Id, slot.Index));
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(run.Cancellation.Token, _abort.Token);
            result = await fetcher.FetchAsync(slot, run.Options, delay => HoldHost(host, delay), run.Activity?.Context ?? default, linked.Token);
        }
        catch (Exception ex)
        {
            // The fetcher turns failures into results; reaching here is a bug, and the slot still gets a final result.
            LogFetchBug(ex, run.Id, slot.Index);
            result = new SlotResult
            {
                Index = slot.Index, Url = slot.Url, State = SlotState.Failed,
                Error = new FetchError(FetchErrorCode.InternalError, $"{ex.GetType().Name}: {ex.Message}"),
            };
        }

        // A cancelled result (batch cancelled, or aborted by shutdown) is not written: the store already marked the
        // slot cancelled, or the slot stays pending for the next start.
        if (result.State != SlotState.Cancelled)
        {
            metrics.Fetched(result);
            writer.Post(new SlotUpdate(run.Id, result));
        }
    }

    void HoldHost(string host, TimeSpan delay)
    {
        lock (_gate)
        {
            if (_hosts.TryGetValue(host, out var state))
            {
                var until = time.GetUtcNow() + delay;
                state.NotBefore = state.NotBefore > until ? state.NotBefore : until;
            }
        }
    }

    void RemoveIfDone(BatchRun run)
    {
        if (run.NotDispatched == 0 && run.InFlight == 0 && _byId.Remove(run.Id))
        {
            _runs.Remove(run);
            run.Activity?.Dispose();
        }
    }

    public override void Dispose()
    {
        _abort.Dispose();
        base.Dispose();
    }

    /// <summary>Log scope of one fetch: every line it logs carries the batch id and slot index as fields.</summary>
    sealed class SlotScope(Guid batchId, int slotIndex) : IReadOnlyList<KeyValuePair<string, object>>
    {
        public int Count => 2;

        public KeyValuePair<string, object> this[int index] => index == 0
            ? new("BatchId", batchId)
            : new("SlotIndex", slotIndex);

        public IEnumerator<KeyValuePair<string, object>> GetEnumerator()
        {
            yield return this[0];
            yield return this[1];
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => $"batch {batchId} slot {slotIndex}";
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Resuming batch {BatchId}: {Pending} slots still pending")]
    partial void LogResuming(Guid batchId, int pending);

    [LoggerMessage(Level = LogLevel.Error, Message = "Fetch of batch {BatchId} slot {Index} threw; recorded as internal_error")]
    partial void LogFetchBug(Exception exception, Guid batchId, int index);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading pending slots of batch {BatchId} failed; will retry")]
    partial void LogRefillFailed(Exception exception, Guid batchId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Shutting down: waiting for {Count} fetches in flight")]
    partial void LogDraining(int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shutdown timeout reached: aborting {Count} fetches; their slots stay pending")]
    partial void LogAborting(int count);
}
