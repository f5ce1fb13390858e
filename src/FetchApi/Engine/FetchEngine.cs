using System.Threading.Channels;
using FetchApi.Model;
using FetchApi.Storage;
using Microsoft.Extensions.Options;

namespace FetchApi.Engine;

/// <summary>
/// The scheduler. It hands out pending slots round-robin across active batches (one slot per batch per turn, so a
/// small batch is never stuck behind a large one) and, within a batch, round-robin across hosts, under three limits
/// at once: global, per batch (<c>options.concurrency</c>) and per host. A host that sent Retry-After is skipped until
/// then. Results go to the <see cref="ResultWriter"/>; a fetch aborted by shutdown writes nothing, so its slot stays
/// pending and is fetched again after a restart.
/// </summary>
public sealed partial class FetchEngine(
    Fetcher fetcher,
    ResultWriter writer,
    IBatchStore store,
    IOptions<EngineOptions> options,
    TimeProvider time,
    ILogger<FetchEngine> logger) : BackgroundService
{
    readonly EngineOptions _options = options.Value;
    readonly Lock _gate = new();
    readonly List<BatchRun> _runs = [];
    readonly Dictionary<Guid, BatchRun> _byId = [];
    readonly Dictionary<string, HostState> _hosts = new(StringComparer.OrdinalIgnoreCase);
    readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    readonly HashSet<Task> _inFlight = [];
    int _cursor;
    int _globalInFlight;
    long _queued;

    /// <summary>URLs accepted but not yet handed to a fetch.</summary>
    public long Backlog => Interlocked.Read(ref _queued);

    /// <summary>Fetches running now.</summary>
    public int InFlight => Volatile.Read(ref _globalInFlight);

    /// <summary>Whether <paramref name="urls"/> more URLs fit under <c>Engine:MaxBacklog</c>.</summary>
    public bool HasRoomFor(int urls) => Backlog + urls <= _options.MaxBacklog;

    sealed class HostState
    {
        public int InFlight;
        public DateTimeOffset NotBefore;
    }

    sealed class BatchRun(Guid id, BatchOptions options)
    {
        public Guid Id { get; } = id;
        public BatchOptions Options { get; } = options;
        public CancellationTokenSource Cancellation { get; } = new();
        public Dictionary<string, Queue<PendingSlot>> Queues { get; } = new(StringComparer.OrdinalIgnoreCase);
        public List<string> Hosts { get; } = [];
        public int HostCursor;
        public int Queued;
        public int InFlight;
        public bool Started;
    }

    readonly record struct Work(BatchRun Run, string Host, PendingSlot Slot);

    /// <summary>Hands a stored batch's pending slots to the scheduler. A batch already running is left as it is.</summary>
    public void Start(Guid batchId, BatchOptions batchOptions, IEnumerable<PendingSlot> slots)
    {
        var run = new BatchRun(batchId, batchOptions);
        foreach (var slot in slots)
        {
            var host = HostKey(slot.Url);
            if (!run.Queues.TryGetValue(host, out var queue))
            {
                run.Queues[host] = queue = new Queue<PendingSlot>();
                run.Hosts.Add(host);
            }

            queue.Enqueue(slot);
            run.Queued++;
        }

        lock (_gate)
        {
            if (!_byId.TryAdd(batchId, run))
            {
                return;
            }

            if (run.Queued == 0)
            {
                _byId.Remove(batchId);
                return;
            }

            _runs.Add(run);
            Interlocked.Add(ref _queued, run.Queued);
        }

        Wake();
    }

    /// <summary>Drops a batch's queued slots and aborts its fetches in flight. Their results are not written.</summary>
    public void Cancel(Guid batchId)
    {
        BatchRun? run;
        lock (_gate)
        {
            if (!_byId.TryGetValue(batchId, out run))
            {
                return;
            }

            Interlocked.Add(ref _queued, -run.Queued);
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
        // Resume what a previous process accepted but did not finish, before the API takes new batches.
        foreach (var batch in await store.GetUnfinishedAsync(cancellationToken))
        {
            var slots = new List<PendingSlot>();
            for (var page = await store.GetPendingSlotsAsync(batch.Id, -1, 10_000, cancellationToken);
                 page.Count > 0;
                 page = await store.GetPendingSlotsAsync(batch.Id, page[^1].Index, 10_000, cancellationToken))
            {
                slots.AddRange(page);
            }

            if (slots.Count == 0)
            {
                // Every slot is final but the status was not updated yet: a write for the batch completes it.
                await writer.PostStartedAsync(batch.Id, time.GetUtcNow());
                continue;
            }

            LogResuming(batch.Id, slots.Count);
            Start(batch.Id, batch.Options, slots);
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
                TimeSpan? wakeIn;
                lock (_gate)
                {
                    work = TakeWork(time.GetUtcNow(), out wakeIn);
                }

                foreach (var item in work)
                {
                    if (!item.Run.Started)
                    {
                        item.Run.Started = true;
                        await writer.PostStartedAsync(item.Run.Id, time.GetUtcNow());
                    }

                    Track(RunAsync(item, stoppingToken));
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

    /// <summary>On shutdown: in-flight fetches were aborted by the stopping token; wait for them to unwind.</summary>
    async Task DrainAsync()
    {
        Task[] running;
        lock (_inFlight)
        {
            running = [.. _inFlight];
        }

        var all = Task.WhenAll(running);
        if (await Task.WhenAny(all, Task.Delay(_options.ShutdownTimeout, time)) != all)
        {
            LogShutdownTimeout(running.Length);
        }
    }

    List<Work> TakeWork(DateTimeOffset now, out TimeSpan? wakeIn)
    {
        var work = new List<Work>();
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

        wakeIn = earliest is { } at ? at - now : null;
        return work;
    }

    Work? TryTake(BatchRun run, DateTimeOffset now, ref DateTimeOffset? earliest)
    {
        for (var i = 0; i < run.Hosts.Count; i++)
        {
            var index = (run.HostCursor + i) % run.Hosts.Count;
            var host = run.Hosts[index];
            if (!_hosts.TryGetValue(host, out var state))
            {
                _hosts[host] = state = new HostState();
            }

            if (state.InFlight >= _options.PerHostConcurrency)
            {
                continue;
            }

            if (state.NotBefore > now)
            {
                earliest = earliest is { } e && e < state.NotBefore ? e : state.NotBefore;
                continue;
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
            run.InFlight++;
            state.InFlight++;
            _globalInFlight++;
            Interlocked.Decrement(ref _queued);
            return new Work(run, host, slot);
        }

        return null;
    }

    async Task RunAsync(Work work, CancellationToken stoppingToken)
    {
        await Task.Yield();
        var (run, host, slot) = work;
        SlotResult result;
        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(run.Cancellation.Token, stoppingToken);
            result = await fetcher.FetchAsync(slot, run.Options, delay => HoldHost(host, delay), linked.Token);
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

        // A cancelled result (batch cancelled or shutdown) is not written: the store already marked the slot
        // cancelled, or the slot stays pending for the next start.
        if (result.State != SlotState.Cancelled)
        {
            await writer.PostAsync(new SlotUpdate(run.Id, result));
        }

        lock (_gate)
        {
            run.InFlight--;
            _hosts[host].InFlight--;
            if (_hosts[host] is { InFlight: 0 } idle && idle.NotBefore <= time.GetUtcNow())
            {
                _hosts.Remove(host);
            }

            _globalInFlight--;
            RemoveIfDone(run);
        }

        Wake();
    }

    void Track(Task task)
    {
        lock (_inFlight)
        {
            _inFlight.Add(task);
        }

        _ = task.ContinueWith(
            t =>
            {
                lock (_inFlight)
                {
                    _inFlight.Remove(t);
                }
            },
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
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
        if (run.Queued == 0 && run.InFlight == 0 && _byId.Remove(run.Id))
        {
            _runs.Remove(run);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Resuming batch {BatchId}: {Pending} slots still pending")]
    partial void LogResuming(Guid batchId, int pending);

    [LoggerMessage(Level = LogLevel.Error, Message = "Fetch of batch {BatchId} slot {Index} threw; recorded as internal_error")]
    partial void LogFetchBug(Exception exception, Guid batchId, int index);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} fetches were still running after the shutdown timeout")]
    partial void LogShutdownTimeout(int count);
}
