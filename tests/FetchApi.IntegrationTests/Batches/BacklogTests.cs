using System.Net;
using System.Text.Json.Nodes;

namespace FetchApi.IntegrationTests.Batches;

public sealed class BacklogTests() : ServiceWithUpstream(new Dictionary<string, string?> { ["Engine:MaxBacklog"] = "4" })
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static HttpRequestMessage Post(object body, string? key = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/batches") { Content = JsonContent.Create(body) };
        if (key is not null)
        {
            request.Headers.Add("Idempotency-Key", key);
        }

        return request;
    }

    [Fact]
    public async Task FullBacklogAnswers503WithRetryAfterButStillReplaysAnAcceptedRequest()
    {
        // Four URLs fill the backlog (4); one goes in flight, three wait: two more do not fit.
        var body = new { urls = Enumerable.Range(0, 4).Select(i => Upstream.Url($"/hang?i={i}")), options = new { concurrency = 1, timeoutSeconds = 60 } };
        using var first = await Client.SendAsync(Post(body, "backlog-key"), Ct);
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        var id = JsonNode.Parse(await first.Content.ReadAsStringAsync(Ct))!["id"]!.GetValue<Guid>();

        using var refused = await Client.SendAsync(Post(new { urls = new[] { Upstream.Url("/ok"), Upstream.Url("/ok") } }), Ct);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.True(refused.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        Assert.Equal("backlog_full", JsonNode.Parse(await refused.Content.ReadAsStringAsync(Ct))!["code"]!.GetValue<string>());

        // A client retrying the request that was accepted gets its batch back, full backlog or not.
        using var retry = await Client.SendAsync(Post(body, "backlog-key"), Ct);
        Assert.Equal(HttpStatusCode.Accepted, retry.StatusCode);
        Assert.Equal(id, JsonNode.Parse(await retry.Content.ReadAsStringAsync(Ct))!["id"]!.GetValue<Guid>());

        // Cancelling frees the backlog.
        using var cancel = await Client.PostAsync($"/batches/{id}/cancel", null, Ct);
        using var accepted = await Client.SendAsync(Post(new { urls = new[] { Upstream.Url("/ok") } }), Ct);
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
    }
}
