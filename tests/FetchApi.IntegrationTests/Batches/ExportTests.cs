using System.Net;
using System.Text.Json.Nodes;

namespace FetchApi.IntegrationTests.Batches;

/// <summary><c>GET /batches/{id}/results</c>: every slot as one NDJSON stream, what scripts and pipelines read.</summary>
public sealed class ExportTests() : ServiceWithUpstream(new Dictionary<string, string?> { ["Batches:MaxPageSize"] = "500" })
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    async Task<(HttpResponseMessage Response, List<JsonObject> Lines)> ExportAsync(string url)
    {
        var response = await Client.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, Ct);
        var lines = new List<JsonObject>();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(Ct));
        while (await reader.ReadLineAsync(Ct) is { } line)
        {
            lines.Add(JsonNode.Parse(line)!.AsObject());
        }

        return (response, lines);
    }

    [Fact]
    public async Task ABatchOfThreeThousandSlotsIsOneStreamOfEverySlotInInputOrder()
    {
        var refused = $"http://127.0.0.1:{FetchApi.IntegrationTests.Upstream.UpstreamServer.ClosedPort()}/";
        var urls = Enumerable.Range(0, 3000).Select(i => i % 100 == 7 ? refused : Upstream.Url($"/ok?i={i}")).ToList();
        var id = await Client.SubmitAsync(urls, new { maxAttempts = 1, concurrency = 64 });
        var paged = await Client.ResultsAsync(id, TimeSpan.FromMinutes(2));

        var (response, lines) = await ExportAsync($"/batches/{id}/results");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/x-ndjson", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(Enumerable.Range(0, 3000), lines.Select(l => l["index"]!.GetValue<int>()));
        Assert.Equal(urls, lines.Select(l => l["url"]!.GetValue<string>()));
        // The same slots, field for field, as the paged reads return.
        Assert.Equal(paged.Select(p => p.ToJsonString()), lines.Select(l => l.ToJsonString()));
        var (_, failed) = await ExportAsync($"/batches/{id}/results?state=failed");
        Assert.Equal(Enumerable.Range(0, 30).Select(i => i * 100 + 7), failed.Select(l => l["index"]!.GetValue<int>()));
    }

    [Fact]
    public async Task WhileTheBatchRunsItsPendingSlotsAppearAsPending()
    {
        var id = await Client.SubmitAsync([Upstream.Url("/ok"), Upstream.Url("/gate/export")]);
        await Api.EventuallyAsync(async () => (await Client.GetJsonAsync($"/batches/{id}?results=false"))["counts"]!["fetched"]!.GetValue<int>() == 1,
            "the first slot never became fetched");

        var (_, lines) = await ExportAsync($"/batches/{id}/results");

        Assert.Equal(["fetched", "pending"], lines.Select(l => l.State()));
        Upstream.Open("export");
    }

    [Fact]
    public async Task AnUnknownBatchIs404AndABadStateIs400()
    {
        using var unknown = await Client.GetAsync($"/batches/{Guid.NewGuid()}/results", Ct);
        var id = await Client.SubmitAsync([Upstream.Url("/ok")]);
        using var bad = await Client.GetAsync($"/batches/{id}/results?state=fetched,failed", Ct);

        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("application/problem+json", bad.Content.Headers.ContentType?.MediaType);
    }
}
