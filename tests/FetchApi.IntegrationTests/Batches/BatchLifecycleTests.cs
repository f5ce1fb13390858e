using System.Net;
using System.Text.Json.Nodes;
using FetchApi.IntegrationTests.Upstream;

namespace FetchApi.IntegrationTests.Batches;

public sealed class BatchLifecycleTests() : ServiceWithUpstream
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task PostingBatchAnswers202WithLocationAndAPendingSummary()
    {
        using var response = await Client.PostAsync("/batches",
            new StringContent($$"""{"urls":["{{Upstream.Url("/ok")}}","{{Upstream.Url("/ok")}}"]}""", System.Text.Encoding.UTF8, "application/json"), Ct);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!.AsObject();
        var id = body["id"]!.GetValue<Guid>();
        Assert.Equal($"/batches/{id}", response.Headers.Location!.OriginalString);
        Assert.Equal(2, body["counts"]!["total"]!.GetValue<int>());
        Assert.Equal(20, body["options"]!["concurrency"]!.GetValue<int>()); // server default filled in
        Assert.Null(body["options"]!["headers"]); // request headers may hold credentials: never echoed
        await Client.WaitUntilDoneAsync(id);
    }

    [Fact]
    public async Task DuplicateUrlsEachGetTheirOwnSlot()
    {
        var url = Upstream.Url("/ok");
        var slots = await Client.ResultsAsync(await Client.SubmitAsync([url, url, url]));

        Assert.Equal([0, 1, 2], slots.Select(s => s["index"]!.GetValue<int>()));
        Assert.All(slots, s => Assert.Equal("fetched", s.State()));
    }

    [Fact]
    public async Task AUrlBeyondAsciiComesBackExactlyAsSentWithItsFinalUrlEncoded()
    {
        // Stored through the raw binding (UTF-8 encoded on the stack): every character must survive the round trip.
        var url = Upstream.Url("/ok") + "?q=café-日本-ü-𝄞";
        var slot = Assert.Single(await Client.ResultsAsync(await Client.SubmitAsync([url])));

        Assert.Equal(url, slot["url"]!.GetValue<string>());
        Assert.Equal("fetched", slot.State());
        Assert.EndsWith("/ok?q=caf%C3%A9-%E6%97%A5%E6%9C%AC-%C3%BC-%F0%9D%84%9E", slot["response"]!["finalUrl"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SlotsArePagedWithAnExplicitNextLink()
    {
        var id = await Client.SubmitAsync(Enumerable.Range(0, 25).Select(i => Upstream.Url($"/ok?i={i}")));
        await Client.WaitUntilDoneAsync(id);

        var first = await Client.GetJsonAsync($"/batches/{id}?limit=10");
        Assert.Equal(10, first["results"]!.AsArray().Count);
        Assert.Equal($"/batches/{id}?after=9&limit=10", first["next"]!.GetValue<string>());

        var second = await Client.GetJsonAsync(first["next"]!.GetValue<string>());
        var third = await Client.GetJsonAsync(second["next"]!.GetValue<string>());
        Assert.Equal(Enumerable.Range(20, 5), third["results"]!.AsArray().Select(s => s!["index"]!.GetValue<int>()));
        Assert.Null(third["next"]);

        var all = await Client.ResultsAsync(id);
        Assert.Equal(Enumerable.Range(0, 25), all.Select(s => s["index"]!.GetValue<int>()));
    }

    [Fact]
    public async Task StateFilterReturnsOnlyThoseSlotsWithTheirInputIndex()
    {
        var refused = $"http://127.0.0.1:{UpstreamServer.ClosedPort()}/";
        var id = await Client.SubmitAsync([Upstream.Url("/ok"), refused, Upstream.Url("/ok"), refused], new { maxAttempts = 1 });
        await Client.WaitUntilDoneAsync(id);

        var failed = await Client.GetJsonAsync($"/batches/{id}?state=failed");
        Assert.Equal([1, 3], failed["results"]!.AsArray().Select(s => s!["index"]!.GetValue<int>()));
        Assert.All(failed["results"]!.AsArray(), s => Assert.Equal("connection_refused", s!["error"]!["code"]!.GetValue<string>()));
    }

    [Fact]
    public async Task ResultsFalseReturnsTheSummaryWithoutSlots()
    {
        var id = await Client.SubmitAsync([Upstream.Url("/ok")]);
        var summary = await Client.GetJsonAsync($"/batches/{id}?results=false");

        Assert.False(summary.ContainsKey("results"));
        Assert.Equal(1, summary["counts"]!["total"]!.GetValue<int>());
        await Client.WaitUntilDoneAsync(id);
    }

    [Fact]
    public async Task ListingReturnsBatchesNewestFirstWithACursor()
    {
        var ids = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await Client.SubmitAsync([Upstream.Url("/ok")]));
        }

        var page = await Client.GetJsonAsync("/batches?limit=2");
        Assert.Equal([ids[2], ids[1]], page["batches"]!.AsArray().Select(b => b!["id"]!.GetValue<Guid>()));
        var rest = await Client.GetJsonAsync(page["next"]!.GetValue<string>());
        Assert.Equal([ids[0]], rest["batches"]!.AsArray().Select(b => b!["id"]!.GetValue<Guid>()));
        Assert.Null(rest["next"]);

        foreach (var id in ids)
        {
            await Client.WaitUntilDoneAsync(id);
        }

        var completed = await Client.GetJsonAsync("/batches?status=completed");
        Assert.Equal(3, completed["batches"]!.AsArray().Count);
        Assert.All(completed["batches"]!.AsArray(), b => Assert.Equal("completed", b!["status"]!.GetValue<string>()));
    }

    [Fact]
    public async Task CancellingAbortsFetchesInFlightAndKeepsFinishedSlots()
    {
        var urls = new[] { Upstream.Url("/ok") }.Concat(Enumerable.Range(0, 6).Select(i => Upstream.Url($"/hang?group=c&i={i}")));
        var id = await Client.SubmitAsync(urls, new { concurrency = 3, timeoutSeconds = 60 });

        await Api.EventuallyAsync(
            async () => Upstream.InFlight("c") >= 2
                        && (await Client.GetJsonAsync($"/batches/{id}?results=false"))["counts"]!["fetched"]!.GetValue<int>() >= 1,
            "the batch never got going");

        using var cancel = await Client.PostAsync($"/batches/{id}/cancel", null, Ct);
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        var summary = JsonNode.Parse(await cancel.Content.ReadAsStringAsync(Ct))!.AsObject();
        Assert.Equal("cancelled", summary["status"]!.GetValue<string>());
        Assert.Equal((1, 6, 0), (summary["counts"]!["fetched"]!.GetValue<int>(), summary["counts"]!["cancelled"]!.GetValue<int>(),
            summary["counts"]!["pending"]!.GetValue<int>()));

        // The hanging requests were aborted, not left to run into their 60 s timeout.
        await Api.EventuallyAsync(() => Upstream.InFlight("c") == 0, "fetches in flight were not aborted");

        var slots = await Client.ResultsAsync(id);
        Assert.Equal("fetched", slots[0].State());
        Assert.All(slots.Skip(1), s => Assert.Equal("cancelled", s.State()));

        using var again = await Client.PostAsync($"/batches/{id}/cancel", null, Ct);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode); // cancelling a cancelled batch is a no-op
    }

    [Fact]
    public async Task CancellingACompletedBatchIsAConflict()
    {
        var id = await Client.SubmitAsync([Upstream.Url("/ok")]);
        await Client.WaitUntilDoneAsync(id);

        var (status, body, _) = await Client.PostRawAsync($"/batches/{id}/cancel", "");
        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Equal("batch_completed", body!["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task CancellingAnUnknownBatchIsNotFound()
    {
        var (status, body, _) = await Client.PostRawAsync($"/batches/{Guid.NewGuid()}/cancel", "");
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal("not_found", body!["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task DeletingABatchRemovesItAndItsResults()
    {
        var id = await Client.SubmitAsync([Upstream.Url("/ok"), Upstream.Url("/hang")], new { timeoutSeconds = 60 });

        using var delete = await Client.DeleteAsync($"/batches/{id}", Ct);
        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);

        using var get = await Client.GetAsync($"/batches/{id}", Ct);
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
        Assert.Equal("application/problem+json", get.Content.Headers.ContentType!.MediaType);

        using var again = await Client.DeleteAsync($"/batches/{id}", Ct);
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
    }
}
