using System.Threading.Channels;
using FetchApi.Engine.Extraction;
using FetchApi.Model;
using FetchApi.Telemetry;
using Microsoft.Extensions.Options;

namespace FetchApi.Engine;

/// <summary>
/// The CPU stage: pages a batch wants read (<c>options.extract</c>) are parsed here, on <c>Engine:CpuWorkers</c> threads
/// of their own (<see cref="CpuThreads"/>), never on the thread pool that runs the fetches. A bounded channel of
/// <c>Engine:CpuQueueCapacity</c> pages feeds them: a fetch hands its page over and its scheduler slot frees at once;
/// when the channel is full, the fetch waits for room and keeps its slot, so fetching slows to the stage's pace
/// (backpressure) and the stage never holds more than capacity + workers pages of at most <c>maxBodyBytes</c> each.
/// A result reaches the writer only once its page was read. A page that is not read (its batch was cancelled, or the
/// service stopped) writes nothing: the slot stays as the store has it (cancelled, or pending and fetched again).
/// </summary>
public sealed partial class CpuStage : IDisposable
{
    /// <summary>A fetched HTML page to read, and where its result goes once it has been read.</summary>
    public sealed record Page(SlotUpdate Update, byte[] Html, FetchOptions Options, Action<SlotUpdate> Done, CancellationToken Cancelled);

    readonly Channel<Page> _queue;
    readonly CpuThreads _threads;
    readonly CancellationTokenSource _abandon = new();
    readonly EngineOptions _options;
    readonly FetchMetrics _metrics;
    readonly TimeProvider _time;
    readonly ILogger<CpuStage> _logger;
    readonly Lock _gate = new();
    Task? _stopping;
    Task _workers = Task.CompletedTask;
    int _busy;

    public CpuStage(IOptions<EngineOptions> options, FetchMetrics metrics, TimeProvider time, ILogger<CpuStage> logger)
    {
        _options = options.Value;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        _queue = Channel.CreateBounded<Page>(new BoundedChannelOptions(_options.CpuQueueCapacity) { FullMode = BoundedChannelFullMode.Wait });
        _threads = new CpuThreads(_options.CpuWorkers);
    }

    /// <summary>Pages waiting for a worker.</summary>
    public int Queued => _queue.Reader.Count;

    /// <summary>Workers reading a page now.</summary>
    public int Busy => Volatile.Read(ref _busy);

    /// <summary>Hands a page over; waits while the channel is full. A cancelled token leaves the page unread.</summary>
    public ValueTask EnqueueAsync(Page page, CancellationToken cancellationToken) => _queue.Writer.WriteAsync(page, cancellationToken);

    public void Start()
    {
        _metrics.ObserveCpuStage(() => Queued, () => Busy);
        _workers = Task.WhenAll(Enumerable.Range(0, _options.CpuWorkers).Select(_ => _threads.Run(WorkAsync)));
    }

    /// <summary>
    /// Takes no more pages and reads those queued, for up to <c>Engine:ShutdownTimeout</c>; what is left then is not
    /// read and writes nothing, so those slots stay pending for the next start.
    /// </summary>
#pragma warning disable VSTHRD003 // our own tasks (the loops started in Start, the one stop); no synchronization context here.
    public Task StopAsync()
    {
        // The host may stop twice at once (a test server does): one stop, awaited by both.
        lock (_gate)
        {
            return _stopping ??= StopOnceAsync();
        }
    }

    async Task StopOnceAsync()
    {
        _queue.Writer.TryComplete();
        if (await Task.WhenAny(_workers, Task.Delay(_options.ShutdownTimeout, _time)) != _workers)
        {
            LogAbandoning(Queued + Busy);
            await _abandon.CancelAsync();
            await Task.WhenAny(_workers, Task.Delay(TimeSpan.FromSeconds(5), _time));
        }
    }
#pragma warning restore VSTHRD003

    async Task WorkAsync()
    {
        // Every await resumes on the stage's threads (CpuThreads is the current scheduler).
        while (await _queue.Reader.WaitToReadAsync(CancellationToken.None))
        {
            while (_queue.Reader.TryRead(out var page))
            {
                try
                {
                    await ReadAsync(page);
                }
                catch (Exception ex)
                {
                    // Cannot happen (ReadAsync turns every failure into a result); if it does, the worker goes on.
                    LogReadBug(ex, page.Update.BatchId, page.Update.Result.Index);
                }
            }
        }
    }

    async Task ReadAsync(Page page)
    {
        if (page.Cancelled.IsCancellationRequested || _abandon.IsCancellationRequested)
        {
            return;
        }

        var response = page.Update.Result.Response!;
        var started = _time.GetTimestamp();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(page.Cancelled, _abandon.Token);
        limit.CancelAfter(_options.ExtractTimeout);
        Interlocked.Increment(ref _busy);
        Extracted? extracted;
        try
        {
            extracted = await HtmlExtractor.ExtractAsync(page.Html, response.ContentType, new Uri(response.FinalUrl), page.Options.Extract,
                page.Options.MaxBodyBytes, limit.Token);
        }
        catch (OperationCanceledException) when (page.Cancelled.IsCancellationRequested || _abandon.IsCancellationRequested)
        {
            return;
        }
        catch (OperationCanceledException)
        {
            extracted = new Extracted
            {
                Error = $"reading the page took longer than {_options.ExtractTimeout.TotalSeconds:0.###} s (Engine:ExtractTimeout); " +
                        "it is too large or too deeply nested",
            };
        }
        catch (Exception ex)
        {
            // A bug: the slot still becomes final (a batch never waits for a page nobody will read), and says why.
            LogReadBug(ex, page.Update.BatchId, page.Update.Result.Index);
            extracted = new Extracted { Error = $"internal error while reading the page: {ex.GetType().Name}: {ex.Message}" };
        }
        finally
        {
            Interlocked.Decrement(ref _busy);
        }

        _metrics.Extracted(_time.GetElapsedTime(started), extracted?.Error is null, CpuThreads.IsCurrent);
        page.Done(page.Update with { Result = page.Update.Result with { Response = response with { Extracted = extracted } } });
    }

    public void Dispose()
    {
        _threads.Dispose();
        _abandon.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shutdown timeout reached: {Count} pages not read; their slots stay pending")]
    partial void LogAbandoning(int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Reading the page of batch {BatchId} slot {Index} threw")]
    partial void LogReadBug(Exception exception, Guid batchId, int index);
}
