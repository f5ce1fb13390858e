using System.Net;
using System.Net.ServerSentEvents;

namespace FetchApi.IntegrationTests.ApiTests;

/// <summary>The event stream as the WHATWG EventSource reads it: retry, keep-alive comments, and a 204 once it is over.</summary>
public sealed class EventStreamContractTests()
    : ServiceWithUpstream(new Dictionary<string, string?> { ["Batches:EventsKeepAlive"] = "00:00:00.100" })
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static async Task<HttpResponseMessage> OpenAsync(HttpClient client, Guid id, string? lastEventId = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/batches/{id}/events");
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }

        return await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
    }

    [Fact]
    public async Task AQuietStreamSendsRetryFirstThenKeepAliveCommentsUntilSomethingHappens()
    {
        var id = await Client.SubmitAsync([Upstream.Url("/gate/quiet")]);
        using var response = await OpenAsync(Client, id);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(Ct));

        Assert.Equal("retry: 3000", await reader.ReadLineAsync(Ct));
        var comments = 0;
        while (await reader.ReadLineAsync(Ct) is { } line && comments < 2)
        {
            comments += line.StartsWith(':') ? 1 : 0;
        }

        Assert.Equal(2, comments);
        Upstream.Open("quiet");
        var events = new List<string>();
        while (await reader.ReadLineAsync(Ct) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                events.Add(line["event: ".Length..]);
            }
        }

        Assert.Equal(["result", "done"], events.Where(e => e != "progress"));
    }

    [Fact]
    public async Task AReconnectAfterDoneIs204AndAReconnectBeforeDoneGetsDone()
    {
        var id = await Client.SubmitAsync([Upstream.Url("/ok?a"), Upstream.Url("/ok?b")]);
        await Client.WaitUntilDoneAsync(id);

        List<SseItem<string>> items = [];
        using (var response = await OpenAsync(Client, id))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await foreach (var item in SseParser.Create(await response.Content.ReadAsStreamAsync(Ct)).EnumerateAsync(Ct))
            {
                items.Add(item);
            }
        }

        var done = items.Single(i => i.EventType == "done");
        var lastResult = items.Last(i => i.EventType == "result");
        Assert.Equal(TimeSpan.FromSeconds(3), items[0].ReconnectionInterval);

        // What an EventSource does after the stream ends: reconnect with the last id it saw.
        using var afterDone = await OpenAsync(Client, id, done.EventId);
        Assert.Equal(HttpStatusCode.NoContent, afterDone.StatusCode);

        // A client that lost the connection between the last result and done gets done, and nothing twice.
        using var beforeDone = await OpenAsync(Client, id, lastResult.EventId);
        Assert.Equal(HttpStatusCode.OK, beforeDone.StatusCode);
        var replay = new List<SseItem<string>>();
        await foreach (var item in SseParser.Create(await beforeDone.Content.ReadAsStreamAsync(Ct)).EnumerateAsync(Ct))
        {
            replay.Add(item);
        }

        Assert.Equal(["done"], replay.Select(i => i.EventType));
        Assert.Equal(done.EventId, replay[0].EventId);
    }
}
