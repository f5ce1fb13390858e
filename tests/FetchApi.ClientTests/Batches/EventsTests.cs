using System.Globalization;
using System.Net.ServerSentEvents;
using System.Text.Json;
using FetchApi.Client;
using FetchApi.IntegrationTests.Upstream;

namespace FetchApi.ClientTests.Batches;

/// <summary>
/// The events operation through the generated client: it hands over the open <c>text/event-stream</c> response, which a
/// spec-following parser (<see cref="SseParser"/>) reads until <c>done</c>; the data of each event is a schema of the document.
/// </summary>
public sealed class EventsTests(GeneratedClientFixture service) : IClassFixture<GeneratedClientFixture>
{
    readonly IFetchApiClient _api = service.Api;
    readonly UpstreamServer _upstream = service.Upstream;

    sealed record Event(string Type, string Id, string Data);

    /// <summary>Reads the stream until <c>done</c> (or its end), failing at the deadline rather than hanging.</summary>
    async Task<(List<Event> Events, TimeSpan Retry)> ReadUntilDoneAsync(Guid id, string? lastEventId = null)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        deadline.CancelAfter(ClientSteps.Deadline);
        using var response = await _api.StreamBatchEventsAsync(id, lastEventId, deadline.Token);
        Assert.Equal(200, response.StatusCode);
        Assert.Equal(["text/event-stream"], response.Headers["Content-Type"].Select(v => v.Split(';')[0]));

        var parser = SseParser.Create(response.Stream);
        var events = new List<Event>();
        await foreach (var item in parser.EnumerateAsync(deadline.Token))
        {
            events.Add(new Event(item.EventType, parser.LastEventId, item.Data));
            if (item.EventType == "done")
            {
                break;
            }
        }

        return (events, parser.ReconnectionInterval);
    }

    [Fact]
    public async Task StreamSendsOneTypedResultPerSlotThenDone()
    {
        var urls = Enumerable.Range(0, 4).Select(i => _upstream.Url($"/delay/{30 * i}?events={i}")).ToList();
        var batch = await _api.SubmitAsync(urls, new BatchOptionsRequest { Concurrency = 2 });

        var (events, retry) = await ReadUntilDoneAsync(batch.Id);

        Assert.Equal(TimeSpan.FromSeconds(3), retry);
        Assert.Equal("done", events[^1].Type);
        var done = JsonSerializer.Deserialize<BatchSummary>(events[^1].Data)!;
        Assert.Equal((batch.Id, BatchStatus.Completed, 4, 4), (done.Id, done.Status, done.Counts.Total, done.Counts.Fetched));

        var results = events.Where(e => e.Type == "result").Select(e => JsonSerializer.Deserialize<SlotResult>(e.Data)!).ToList();
        Assert.Equal([0, 1, 2, 3], results.Select(r => r.Index).Order());
        Assert.All(results, r => Assert.Equal((SlotState.Fetched, 200), (r.State, r.Response?.StatusCode)));
        Assert.All(events.Where(e => e.Type == "progress"), e => ClientSteps.AssertCountsAddUp(JsonSerializer.Deserialize<BatchSummary>(e.Data)!.Counts));
        var ids = events.Select(e => long.Parse(e.Id, CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(ids.Order(), ids); // increasing: Last-Event-ID resumes after any of them
    }

    [Fact]
    public async Task ReconnectingAfterDoneIsNoContent()
    {
        var batch = await _api.SubmitAsync([_upstream.Url("/ok?events=done")], prefer: "wait=10");
        var (events, _) = await ReadUntilDoneAsync(batch.Id);

        // What an EventSource does after the stream ends: reconnect with the last id it saw. 204 tells it to stop.
        var reconnect = await Assert.ThrowsAsync<ApiException>(() => _api.StreamBatchEventsAsync(batch.Id, events[^1].Id, TestContext.Current.CancellationToken));

        Assert.Equal(204, reconnect.StatusCode);
    }
}
