using System.Threading.Channels;
using FetchApi.Model;
using FetchApi.Telemetry;
using Microsoft.Extensions.Options;

namespace FetchApi.Engine;

/// <summary>
/// The one writer of results. Fetches post here and go on; the writer commits whatever has queued up since its last
/// commit in one transaction (group commit, up to <c>Engine:WriteBatchSize</c>), so a busy engine writes hundreds of
/// results per transaction and an idle one writes each result at once. A failed write is retried with backoff,
/// never dropped.
/// </summary>
public sealed partial class ResultWriter(IResultSink sink, BatchChanges changes, FetchMetrics metrics, IOptions<EngineOptions> options,
    TimeProvider time, ILogger<ResultWriter> logger)
    : BackgroundService
{
    readonly Channel<object> _queue = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
    readonly int _groupSize = options.Value.WriteBatchSize;
    readonly TimeSpan _linger = options.Value.WriteLinger;
    readonly int _lingerBelow = Math.Max(1, options.Value.WriteBatchSize / 8);
    readonly int _maxUnwritten = options.Value.MaxUnwrittenResults;
    int _unwritten;

    // The queue is unbounded, so posting never waits. After Complete (a fetch outlived the shutdown timeout) a post is
    // dropped: its slot stays pending and is fetched again after the restart.

    /// <summary>These results are in the store now (or, when the store refused them at shutdown, never will be).</summary>
    public event Action<IReadOnlyList<SlotUpdate>>? Written;

    /// <summary>Queues a final slot result.</summary>
    public void Post(SlotUpdate update)
    {
        Interlocked.Increment(ref _unwritten);
        if (!_queue.Writer.TryWrite(update))
        {
            Interlocked.Decrement(ref _unwritten);
        }
    }

    /// <summary>Results posted and not yet written (or given up at shutdown).</summary>
    public int Unwritten => Volatile.Read(ref _unwritten);

    /// <summary>True while <c>Engine:MaxUnwrittenResults</c> or more results wait: the engine starts no fetch meanwhile.</summary>
    public bool Behind => Unwritten >= _maxUnwritten;

    /// <summary>Queues the moment a batch's first fetch started.</summary>
    public void PostStarted(Guid batchId, DateTimeOffset at) => _queue.Writer.TryWrite(new BatchStarted(batchId, at));

    /// <summary>Called once no more results can come (the engine has stopped); the writer writes what is queued and stops.</summary>
    public void Complete() => _queue.Writer.TryComplete();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var node = logger.BeginScope(new Dictionary<string, object> { ["NodeId"] = options.Value.NodeId });
        var results = new List<SlotUpdate>(_groupSize);
        var started = new List<BatchStarted>();
        // Not stoppingToken: on shutdown the queue is completed after the engine's last result, and everything queued is written.
        while (await _queue.Reader.WaitToReadAsync(CancellationToken.None))
        {
            results.Clear();
            started.Clear();
            Take(results, started);
            if (_linger > TimeSpan.Zero && results.Count < _lingerBelow)
            {
                // Group commit: results finishing within the linger share this transaction. When results trickle in
                // (each fetch ends on its own, e.g. 100 slots at 20 ms), a transaction per two or three results spent
                // more CPU on statements and commits than on the rows (issue 16). A group of an eighth of the maximum
                // or more has amortised them already and is written at once. Real time, not the injected clock: this
                // is about CPU, not about any deadline a test controls.
                await Task.Delay(_linger, CancellationToken.None);
                Take(results, started);
            }

            await WriteWithRetryAsync(results, started, stoppingToken);
            Interlocked.Add(ref _unwritten, -results.Count);
            Written?.Invoke(results);
        }
    }

    /// <summary>Moves queued items into the group, up to <c>Engine:WriteBatchSize</c> results.</summary>
    void Take(List<SlotUpdate> results, List<BatchStarted> started)
    {
        while (results.Count < _groupSize && _queue.Reader.TryRead(out var item))
        {
            switch (item)
            {
                case SlotUpdate update:
                    results.Add(update);
                    break;
                case BatchStarted s:
                    started.Add(s);
                    break;
            }
        }
    }

    async Task WriteWithRetryAsync(List<SlotUpdate> results, List<BatchStarted> started, CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromMilliseconds(50);
        var stoppingAttempts = 0;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var written = await sink.WriteAsync(results, started, time.GetUtcNow(), CancellationToken.None);
                if (written.Completed.Count > 0)
                {
                    metrics.Batches(BatchStatus.Completed, written.Completed.Count);
                }

                changes.Publish(written.Touched, ended: written.Completed.Count > 0);
                return;
            }
            catch (Exception ex)
            {
                // Stopping: a few quick tries, then the results are left to the next start (their slots stay pending and
                // are fetched again), rather than holding the shutdown until the host kills the process.
                if (stoppingToken.IsCancellationRequested && ++stoppingAttempts > StoppingAttempts)
                {
                    LogGaveUp(ex, results.Count);
                    return;
                }

                LogWriteFailed(ex.Message, results.Count, attempt, delay);
                await Task.Delay(delay, time, CancellationToken.None);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, stoppingToken.IsCancellationRequested ? 200 : 5_000));
            }
        }
    }

    const int StoppingAttempts = 5;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Writing {Count} results failed (attempt {Attempt}): {Reason}; retrying in {Delay}")]
    partial void LogWriteFailed(string reason, int count, int attempt, TimeSpan delay);

    [LoggerMessage(Level = LogLevel.Error,
        Message = "Shutting down with {Count} results the store would not take; their slots stay pending and are fetched again after the restart")]
    partial void LogGaveUp(Exception exception, int count);
}
