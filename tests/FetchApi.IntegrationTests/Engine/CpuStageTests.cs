using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using FetchApi.Engine;
using FetchApi.IntegrationTests.Upstream;
using FetchApi.Model;

namespace FetchApi.IntegrationTests.Engine;

/// <summary>
/// The CPU stage between the fetches and the writer: backpressure, cancel and shutdown while it is busy. The test holds
/// the stage's only worker with a page of its own whose delivery waits for the test, so "extraction is slow" is a state
/// the test sets and ends, not a duration; every wait below is for a state, never for time.
/// </summary>
public sealed class CpuStageTests
{
    const int Pages = 20, Concurrency = 4, QueueCapacity = 2;

    static readonly string[] TitleOnly = ["title"], TitleAndText = ["title", "text"];

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static Dictionary<string, string?> OneWorkerAndASmallQueue(params (string Key, string Value)[] more)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Engine:CpuWorkers"] = "1", ["Engine:CpuQueueCapacity"] = QueueCapacity.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        foreach (var (key, value) in more)
        {
            settings[key] = value;
        }

        return settings;
    }

    static List<string> PageUrls(UpstreamServer upstream, string key, int count)
    {
        var page = upstream.Serve(key, "text/html; charset=utf-8", "<title>Slow reading</title><p>A page."u8.ToArray());
        return [.. Enumerable.Range(0, count).Select(i => $"{page}?group={key}&i={i}")];
    }

    static int RequestsOf(UpstreamServer upstream, string key) =>
        upstream.RequestsPerUrl.Where(r => r.Key.StartsWith($"/served/{key}?", StringComparison.Ordinal)).Sum(r => r.Value);

    /// <summary>
    /// Holds the stage's only worker from <see cref="HoldAsync"/> until disposed: a page of the test's own whose delivery
    /// waits for it.
    /// </summary>
    sealed class HeldWorker : IAsyncDisposable
    {
        readonly ManualResetEventSlim _gate = new();
        readonly TaskCompletionSource _held = new(TaskCreationOptions.RunContinuationsAsynchronously);
        readonly TaskCompletionSource _passed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public static async Task<HeldWorker> HoldAsync(CpuStage stage)
        {
            var worker = new HeldWorker();
            var ct = Ct;
            var response = new FetchResponse { StatusCode = 200, FinalUrl = "http://127.0.0.1/held", ContentType = "text/html", Sha256 = "" };
            var slot = new SlotResult { Index = 0, Url = response.FinalUrl, State = SlotState.Fetched, Response = response };
            var options = new FetchOptions
            {
                Concurrency = 1, TimeoutSeconds = 1, MaxAttempts = 1, Method = "GET", IncludeBody = false, MaxBodyBytes = 1024,
                FollowRedirects = false, MaxRedirects = 0, Extract = [ExtractField.Title],
            };
            await stage.EnqueueAsync(
                new CpuStage.Page(new SlotUpdate(Guid.NewGuid(), slot), "<title>held</title>"u8.ToArray(), options, _ => worker.Hold(ct), CancellationToken.None),
                ct);
            await worker._held.Task.WaitAsync(ct);
            return worker;
        }

        // Runs on the stage's worker thread: it is that thread the test holds.
        void Hold(CancellationToken ct)
        {
            _held.SetResult();
            try
            {
                _gate.Wait(ct);
            }
            finally
            {
                _passed.SetResult();
            }
        }

        public async ValueTask DisposeAsync()
        {
            _gate.Set();
            await _passed.Task.WaitAsync(Ct);
            _gate.Dispose();
        }
    }

    /// <summary>
    /// The queue is full, and every fetch the batch may run has its response and waits for room, holding its place:
    /// the state in which no new fetch can start. (Every page requested is either queued or held by a fetch in flight:
    /// a fetch that took a freed place but has not sent its request yet does not pass for a waiting one.)
    /// </summary>
    static Task FetchingWaitsAsync(CpuStage stage, FetchEngine engine, UpstreamServer upstream, string key) =>
        Api.EventuallyAsync(
            () => stage.Queued == QueueCapacity && engine.InFlight == Concurrency && upstream.InFlight(key) == 0
                  && RequestsOf(upstream, key) == stage.Queued + engine.InFlight,
            $"the stage never filled: {QueueCapacity} pages queued and {Concurrency} fetches each holding a fetched page");

    [Fact]
    public async Task WhileTheStageIsBusyFetchingGoesOnUntilItsQueueIsFullThenWaits()
    {
        await using var upstream = await UpstreamServer.StartAsync();
        await using var factory = new FetchApiFactory(OneWorkerAndASmallQueue());
        using var client = factory.CreateClient();
        var stage = factory.Services.GetRequiredService<CpuStage>();
        var engine = factory.Services.GetRequiredService<FetchEngine>();
        using var threads = new ExtractionThreads(factory.Services.GetRequiredService<IMeterFactory>());
        Guid id;
        int fetchedWhileHeld;
        await using (await HeldWorker.HoldAsync(stage))
        {
            id = await client.SubmitAsync(PageUrls(upstream, "bp", Pages), new { concurrency = Concurrency, extract = TitleOnly });
            await FetchingWaitsAsync(stage, engine, upstream, "bp");
            fetchedWhileHeld = RequestsOf(upstream, "bp");
            var summary = await client.GetJsonAsync($"/batches/{id}?results=false");
            Assert.Equal(Pages, summary["counts"]!["pending"]!.GetValue<int>());
        }

        var slots = await client.ResultsAsync(id);

        // Two pages in the queue and four fetched pages waiting for room, while nothing was read: the rest waited.
        Assert.Equal(QueueCapacity + Concurrency, fetchedWhileHeld);
        Assert.All(slots, s => Assert.Equal("Slow reading", s["response"]!["extracted"]!["title"]!.GetValue<string>()));
        Assert.Equal(Pages, RequestsOf(upstream, "bp"));
        // Every page (the test's own included) was read on the stage's threads, none on a fetch's.
        Assert.Equal((Pages + 1, 0), (threads.OnStage, threads.Elsewhere));
    }

    [Fact]
    public async Task CancellingABatchReleasesTheFetchesWaitingForTheStage()
    {
        await using var upstream = await UpstreamServer.StartAsync();
        await using var factory = new FetchApiFactory(OneWorkerAndASmallQueue());
        using var client = factory.CreateClient();
        var stage = factory.Services.GetRequiredService<CpuStage>();
        var engine = factory.Services.GetRequiredService<FetchEngine>();
        Guid id;
        await using (await HeldWorker.HoldAsync(stage))
        {
            id = await client.SubmitAsync(PageUrls(upstream, "cancel", Pages), new { concurrency = Concurrency, extract = TitleOnly });
            await FetchingWaitsAsync(stage, engine, upstream, "cancel");

            using var cancel = await client.PostAsync(new Uri($"/batches/{id}/cancel", UriKind.Relative), null, Ct);
            Assert.Equal(System.Net.HttpStatusCode.OK, cancel.StatusCode);
            // The waiting fetches end with the batch, while the worker is still held.
            await Api.EventuallyAsync(() => engine.InFlight == 0, $"{engine.InFlight} fetches still wait after the cancel");
        }

        // The queued pages of the cancelled batch are not read, and nothing is written over the cancelled slots.
        await Api.EventuallyAsync(() => stage.Queued == 0, "the queue did not drain");
        var summary = await client.WaitUntilDoneAsync(id);
        Assert.Equal("cancelled", summary["status"]!.GetValue<string>());
        Assert.Equal((Pages, 0), (summary["counts"]!["cancelled"]!.GetValue<int>(), summary["counts"]!["fetched"]!.GetValue<int>()));
    }

    [Fact]
    public async Task PagesNotReadAtShutdownAreFetchedAgainAfterARestart()
    {
        var directory = Directory.CreateTempSubdirectory("fetchapi-cpu-stage-");
        var settings = OneWorkerAndASmallQueue(
            ("Storage:ConnectionString", $"Data Source={Path.Combine(directory.FullName, "fetchapi.db")}"), ("Engine:ShutdownTimeout", "00:00:00.200"));
        try
        {
            await using var upstream = await UpstreamServer.StartAsync();
            var urls = PageUrls(upstream, "restart", Pages);
            Guid id;
            await using var first = new FetchApiFactory(settings);
            await using (await HeldWorker.HoldAsync(first.Services.GetRequiredService<CpuStage>()))
            {
                using var client = first.CreateClient();
                id = await client.SubmitAsync(urls, new { concurrency = Concurrency, extract = TitleOnly });
                await FetchingWaitsAsync(first.Services.GetRequiredService<CpuStage>(), first.Services.GetRequiredService<FetchEngine>(), upstream, "restart");
                // A graceful stop while the worker is held: the waiting fetches are aborted, the queued pages left unread.
                await first.DisposeAsync();
            }

            var beforeRestart = RequestsOf(upstream, "restart");
            await using var second = new FetchApiFactory(settings);
            using var restarted = second.CreateClient();
            var slots = await restarted.ResultsAsync(id);

            Assert.Equal(QueueCapacity + Concurrency, beforeRestart);
            Assert.All(slots, s => Assert.Equal("Slow reading", s["response"]!["extracted"]!["title"]!.GetValue<string>()));
            // Nothing of the batch was written before the stop, so every page was fetched again: at least once, never lost.
            Assert.Equal(beforeRestart + Pages, RequestsOf(upstream, "restart"));
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task APageThatTakesTooLongToReadStaysFetchedWithAnExtractionError()
    {
        await using var upstream = await UpstreamServer.StartAsync();
        await using var factory = new FetchApiFactory(new Dictionary<string, string?> { ["Engine:ExtractTimeout"] = "00:00:00.050" });
        using var client = factory.CreateClient();
        // Tree building is quadratic in depth: 100,000 nested elements take minutes, far beyond 50 ms on any machine.
        var deep = upstream.Serve("deep", "text/html", System.Text.Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("<div>", 100_000))));

        var slot = (await client.ResultsAsync(await client.SubmitAsync([deep], new { extract = TitleAndText }))).Single();

        Assert.Equal(("fetched", 200), (slot.State(), slot.StatusCode()));
        var extracted = slot["response"]!["extracted"]!.AsObject();
        Assert.Contains("Engine:ExtractTimeout", extracted["error"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(["error"], extracted.Select(p => p.Key));
    }

    /// <summary>Counts the pages the stage read, by the thread they were read on (the <c>thread</c> tag of fetchapi.extract.duration).</summary>
    sealed class ExtractionThreads : IDisposable
    {
        readonly MeterListener _listener = new();
        readonly ConcurrentQueue<string?> _threads = new();

        public ExtractionThreads(IMeterFactory scope)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Name == "fetchapi.extract.duration" && ReferenceEquals(instrument.Meter.Scope, scope))
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<double>((_, _, tags, _) =>
            {
                foreach (var tag in tags)
                {
                    if (tag.Key == "thread")
                    {
                        _threads.Enqueue(tag.Value as string);
                    }
                }
            });
            _listener.Start();
        }

        public int OnStage => _threads.Count(t => t == "cpu_stage");

        public int Elsewhere => _threads.Count(t => t != "cpu_stage");

        public void Dispose() => _listener.Dispose();
    }
}
