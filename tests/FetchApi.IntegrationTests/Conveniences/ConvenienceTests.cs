using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using FetchApi.IntegrationTests.Upstream;

namespace FetchApi.IntegrationTests.Conveniences;

/// <summary>Prefer: wait, Idempotency-Key, Server-Sent Events and callbacks, as scripts and services use them.</summary>
public sealed class ConvenienceTests() : ServiceWithUpstream(new Dictionary<string, string?>
{
    ["Callbacks:RetryDelay"] = "00:00:00.050",
    ["Callbacks:RoundDelay"] = "00:00:00.100",
    ["Callbacks:PollInterval"] = "00:00:00.100",
})
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static HttpRequestMessage Post(object body, params (string Name, string Value)[] headers)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/batches") { Content = JsonContent.Create(body) };
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return request;
    }

    static async Task<JsonObject> Json(HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!.AsObject();

    [Fact]
    public async Task PreferWaitReturnsTheFinishedBatchWithItsResults()
    {
        using var response = await Client.SendAsync(Post(new { urls = new[] { Upstream.Url("/ok"), Upstream.Url("/status/404") } },
            ("Prefer", "wait=30")), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("wait=30", response.Headers.GetValues("Preference-Applied").Single());
        var body = await Json(response);
        Assert.Equal("completed", body["status"]!.GetValue<string>());
        Assert.Equal([200, 404], body["results"]!.AsArray().Select(s => s!["response"]!["statusCode"]!.GetValue<int>()));
        Assert.NotNull(response.Headers.Location);
    }

    [Fact]
    public async Task PreferWaitAnswers202WhenTheBatchIsNotDoneInTime()
    {
        using var response = await Client.SendAsync(Post(new { urls = new[] { Upstream.Url("/delay/5000") } }, ("Prefer", "wait=1")), Ct);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.False(response.Headers.Contains("Preference-Applied"));
        var id = (await Json(response))["id"]!.GetValue<Guid>();
        using var _ = await Client.PostAsync($"/batches/{id}/cancel", null, Ct);
    }

    [Fact]
    public async Task SameIdempotencyKeyAndBodyReturnsTheSameBatch()
    {
        var body = new { urls = new[] { Upstream.Url("/ok") } };
        var key = Guid.NewGuid().ToString();
        using var first = await Client.SendAsync(Post(body, ("Idempotency-Key", key)), Ct);
        using var second = await Client.SendAsync(Post(body, ("Idempotency-Key", key)), Ct);

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, second.StatusCode);
        Assert.Equal((await Json(first))["id"]!.GetValue<Guid>(), (await Json(second))["id"]!.GetValue<Guid>());
        Assert.Equal("true", second.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.False(first.Headers.Contains("Idempotent-Replayed"));
        Assert.Single((await Client.GetJsonAsync("/batches"))["batches"]!.AsArray());
    }

    [Fact]
    public async Task SameIdempotencyKeyWithADifferentBodyIs422()
    {
        var key = Guid.NewGuid().ToString();
        using var first = await Client.SendAsync(Post(new { urls = new[] { Upstream.Url("/ok") } }, ("Idempotency-Key", key)), Ct);
        using var second = await Client.SendAsync(Post(new { urls = new[] { Upstream.Url("/ok?other") } }, ("Idempotency-Key", key)), Ct);

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, second.StatusCode);
        Assert.Equal("idempotency_key_reused", (await Json(second))["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task ConcurrentRequestsWithOneIdempotencyKeyCreateOneBatch()
    {
        var body = new { urls = new[] { Upstream.Url("/ok?race") } };
        var key = Guid.NewGuid().ToString();
        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Client.SendAsync(Post(body, ("Idempotency-Key", key)), Ct)));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.Accepted, r.StatusCode));
        var ids = await Task.WhenAll(responses.Select(async r => (await Json(r))["id"]!.GetValue<Guid>()));
        Assert.Single(ids.Distinct());
        foreach (var r in responses)
        {
            r.Dispose();
        }
    }

    [Fact]
    public async Task InvalidIdempotencyKeyIsAProblemNamingTheHeader()
    {
        using var response = await Client.SendAsync(Post(new { urls = new[] { Upstream.Url("/ok") } }, ("Idempotency-Key", new string('k', 256))), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.True((await Json(response))["errors"]!.AsObject().ContainsKey("Idempotency-Key"));
    }

    internal static async Task<List<(string Event, string? Id, JsonObject Data)>> ReadEventsAsync(HttpClient client, string url, string? lastEventId = null,
        int? stopAfterResults = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }

        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(Ct));
        var events = new List<(string, string?, JsonObject)>();
        string? name = null, id = null, data = null;
        while (await reader.ReadLineAsync(Ct) is { } line)
        {
            if (line.Length == 0)
            {
                if (name is not null && data is not null)
                {
                    events.Add((name, id, JsonNode.Parse(data)!.AsObject()));
                    if (name == "done" || (stopAfterResults is { } n && events.Count(e => e.Item1 == "result") >= n))
                    {
                        break;
                    }
                }

                (name, data) = (null, null);
                continue;
            }

            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                name = line["event: ".Length..];
            }
            else if (line.StartsWith("id: ", StringComparison.Ordinal))
            {
                id = line["id: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data = line["data: ".Length..];
            }
        }

        return events;
    }

    [Fact]
    public async Task EventStreamSendsOneResultPerSlotThenDone()
    {
        var urls = Enumerable.Range(0, 6).Select(i => Upstream.Url($"/delay/{50 * i}?i={i}")).ToList();
        var id = await Client.SubmitAsync(urls, new { concurrency = 2 });

        var events = await ReadEventsAsync(Client, $"/batches/{id}/events");

        var results = events.Where(e => e.Event == "result").ToList();
        Assert.Equal(Enumerable.Range(0, 6), results.Select(e => e.Data["index"]!.GetValue<int>()).Order());
        Assert.All(results, e => Assert.Equal("fetched", e.Data["state"]!.GetValue<string>()));
        Assert.Equal("done", events[^1].Event);
        Assert.Equal("completed", events[^1].Data["status"]!.GetValue<string>());
        var ids = results.Select(e => long.Parse(e.Id!, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(ids.Order(), ids); // ids increase: a client can resume from the last one
    }

    [Fact]
    public async Task EventStreamResumesAfterLastEventId()
    {
        var id = await Client.SubmitAsync(Enumerable.Range(0, 5).Select(i => Upstream.Url($"/ok?i={i}")));
        await Client.WaitUntilDoneAsync(id);

        var firstTwo = await ReadEventsAsync(Client, $"/batches/{id}/events", stopAfterResults: 2);
        var rest = await ReadEventsAsync(Client, $"/batches/{id}/events", lastEventId: firstTwo.Last(e => e.Event == "result").Id);

        var seen = firstTwo.Concat(rest).Where(e => e.Event == "result").Select(e => e.Data["index"]!.GetValue<int>()).ToList();
        Assert.Equal(Enumerable.Range(0, 5), seen.Order()); // every slot exactly once across the two connections
        Assert.Equal("done", rest[^1].Event);
    }

    [Fact]
    public async Task EventStreamOfAnUnknownBatchIs404()
    {
        using var response = await Client.GetAsync($"/batches/{Guid.NewGuid()}/events", Ct);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task CallbackIsPostedSignedWhenTheBatchCompletes()
    {
        var key = Guid.NewGuid().ToString("N");
        const string secret = "s3cret-s3cret-s3cret";
        var id = await Client.SubmitAsync([Upstream.Url("/ok")], callback: new { url = Upstream.Url($"/hook/{key}"), secret = secret });

        var delivery = await WaitForCallbackAsync(key, accepted: true);
        var expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), delivery.Body));
        Assert.Equal(expected, delivery.Headers["FetchApi-Signature"]);
        Assert.Equal("batch.completed", delivery.Headers["FetchApi-Event"]);
        var summary = JsonNode.Parse(delivery.Body)!.AsObject();
        Assert.Equal(id, summary["id"]!.GetValue<Guid>());
        Assert.Equal("completed", summary["status"]!.GetValue<string>());
        Assert.Equal(1, summary["counts"]!["fetched"]!.GetValue<int>());
    }

    [Fact]
    public async Task CallbackIsRetriedUntilTheReceiverAcceptsIt()
    {
        var key = Guid.NewGuid().ToString("N");
        await Client.SubmitAsync([Upstream.Url("/ok")], callback: new { url = Upstream.Url($"/hook/{key}?fail=4"), secret = "another-secret-123" });

        await WaitForCallbackAsync(key, accepted: true);
        Assert.Equal(5, Upstream.Callbacks.Count(c => c.Key == key));
    }

    [Fact]
    public async Task CallbackIsSentWhenTheBatchIsCancelled()
    {
        var key = Guid.NewGuid().ToString("N");
        var id = await Client.SubmitAsync([Upstream.Url("/hang")], new { timeoutSeconds = 60 },
            callback: new { url = Upstream.Url($"/hook/{key}"), secret = "cancel-secret-1234" });
        using var cancel = await Client.PostAsync($"/batches/{id}/cancel", null, Ct);

        var delivery = await WaitForCallbackAsync(key, accepted: true);
        Assert.Equal("batch.cancelled", delivery.Headers["FetchApi-Event"]);
    }

    [Theory]
    [InlineData("ftp://example.com/hook", "long-enough-secret", "callback.url")]
    [InlineData("http://127.0.0.1:1/hook", "short", "callback.secret")]
    public async Task InvalidCallbackIsAProblemNamingTheField(string url, string secret, string field)
    {
        var json = System.Text.Json.JsonSerializer.Serialize(new { urls = new[] { Upstream.Url("/ok") }, callback = new { url, secret } });
        var (status, body, _) = await Client.PostRawAsync("/batches", json);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.True(body!["errors"]!.AsObject().ContainsKey(field), body.ToJsonString());
    }

    async Task<UpstreamServer.ReceivedCallback> WaitForCallbackAsync(string key, bool accepted)
    {
        UpstreamServer.ReceivedCallback? found = null;
        await Api.EventuallyAsync(() => (found = Upstream.Callbacks.FirstOrDefault(c => c.Key == key && c.Accepted == accepted)) is not null,
            $"no callback for {key}");
        return found!;
    }
}
