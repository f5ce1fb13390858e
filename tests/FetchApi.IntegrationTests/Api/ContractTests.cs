using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using FetchApi.IntegrationTests.Contract;

namespace FetchApi.IntegrationTests.ApiTests;

/// <summary>
/// The contract as clients that follow the RFCs exercise it: exact query values, paging by position while a batch runs,
/// HEAD, Prefer and Idempotency-Key grammar, and problem details whatever the request accepts.
/// </summary>
public sealed class ContractTests() : ServiceWithUpstream(new Dictionary<string, string?> { ["Engine:MaxBacklog"] = "50" })
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static async Task<(HttpStatusCode Status, JsonObject? Body, HttpResponseMessage Response)> GetAsync(HttpClient client, string url,
        params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        var response = await client.SendAsync(request, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        return (response.StatusCode, text.Length > 0 && text[0] == '{' ? JsonNode.Parse(text)!.AsObject() : null, response);
    }

    static void AssertProblem(HttpResponseMessage response, JsonObject? body, HttpStatusCode status, string code)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.NotNull(body);
        Assert.Equal(code, body["code"]!.GetValue<string>());
        Assert.Equal($"/problems/{code}", body["type"]!.GetValue<string>());
        Assert.Equal((int)status, body["status"]!.GetValue<int>());
    }

    [Theory]
    [InlineData("state=fetched,failed", "state")]
    [InlineData("state=fetched&state=failed", "state")]
    [InlineData("state=3", "state")]
    [InlineData("limit=0", "limit")]
    [InlineData("after=-1", "after")]
    [InlineData("offset=10", "offset")]
    public async Task AQueryValueThatIsNotExactlyOneAllowedValueIsA400NamingIt(string query, string parameter)
    {
        var id = await Client.SubmitAsync([Upstream.Url("/ok")]);

        var (_, body, response) = await GetAsync(Client, $"/batches/{id}?{query}");

        AssertProblem(response, body, HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(body!["errors"]!.AsObject().ContainsKey(parameter), body.ToJsonString());
    }

    [Theory]
    [InlineData("status=running,completed")]
    [InlineData("status=running&status=completed")]
    public async Task AListOfStatusesIsA400NotTheFlagsOfTheirSum(string query)
    {
        var (_, body, response) = await GetAsync(Client, $"/batches?{query}");

        AssertProblem(response, body, HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(body!["errors"]!.AsObject().ContainsKey("status"), body.ToJsonString());
    }

    [Fact]
    public async Task WalkingNextUnderAStateFilterReturnsEverySlotThatStaysInItOnceInOrder()
    {
        // One fetch at a time, in index order: each slot waits at its own gate until the test opens it.
        var id = await Client.SubmitAsync(Enumerable.Range(0, 10).Select(i => Upstream.Url($"/gate/{i}")), new { concurrency = 1 });
        var seen = new List<int>();

        var first = await Client.GetJsonAsync($"/batches/{id}?state=pending&limit=3");
        seen.AddRange(first["results"]!.AsArray().Select(s => s!["index"]!.GetValue<int>()));
        // Slots 0 to 3 leave the filter between the first page and the second: offsets would now skip 4, 5 and 6.
        foreach (var i in Enumerable.Range(0, 4))
        {
            Upstream.Open(i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        await Api.EventuallyAsync(async () => (await Client.GetJsonAsync($"/batches/{id}?results=false"))["counts"]!["fetched"]!.GetValue<int>() == 4,
            "slots 0 to 3 never became fetched");
        for (var next = first["next"]?.GetValue<string>(); next is not null;)
        {
            var page = await Client.GetJsonAsync(next);
            seen.AddRange(page["results"]!.AsArray().Select(s => s!["index"]!.GetValue<int>()));
            next = page["next"]?.GetValue<string>();
        }

        Assert.Equal([0, 1, 2, 4, 5, 6, 7, 8, 9], seen);
        await Client.PostAsync($"/batches/{id}/cancel", null, Ct);
    }

    [Theory]
    [InlineData("/batches")]
    [InlineData("/batches/{id}")]
    [InlineData("/batches/{id}/events")]
    [InlineData("/health/ready")]
    public async Task HeadAnswersLikeGetWithoutABody(string path)
    {
        var id = await Client.SubmitAsync([Upstream.Url("/ok")]);
        await Client.WaitUntilDoneAsync(id);
        var url = path.Replace("{id}", id.ToString(), StringComparison.Ordinal);

        using var get = await Client.GetAsync(url, Ct);
        using var head = await Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, url), Ct);

        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(get.Content.Headers.ContentType?.MediaType, head.Content.Headers.ContentType?.MediaType);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task HeadOfAnUnknownBatchIs404()
    {
        using var head = await Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/batches/{Guid.NewGuid()}"), Ct);
        Assert.Equal(HttpStatusCode.NotFound, head.StatusCode);
    }

    [Theory]
    [InlineData("wait=\"10\"")]
    [InlineData("wait=10; foo=bar")]
    [InlineData("respond-async, wait=10")]
    [InlineData("WAIT = 10")]
    public async Task PreferWaitIsReadAsRfc7240WritesIt(string prefer)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/batches")
        {
            Content = JsonContent.Create(new { urls = new[] { Upstream.Url("/ok") } }),
        };
        request.Headers.TryAddWithoutValidation("Prefer", prefer);

        using var response = await Client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("wait=10", response.Headers.GetValues("Preference-Applied").Single());
        Assert.Contains("Prefer", response.Headers.Vary);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!.AsObject();
        Assert.Equal("completed", body["status"]!.GetValue<string>());
        Assert.Single(body["results"]!.AsArray());
    }

    [Fact]
    public async Task TheAcceptedAnswerHasTheSameShapeAsTheWaitedOneWithoutResults()
    {
        var (status, body, response) = await Client.PostRawAsync("/batches", $$"""{"urls":["{{Upstream.Url("/gate/shape")}}"]}""");

        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.Contains("Prefer", response.Headers.Vary);
        Assert.False(body!.ContainsKey("results"));
        Assert.True(body.ContainsKey("next") && body["next"] is null);
        Assert.Equal(1, body["counts"]!["total"]!.GetValue<int>());
        Upstream.Open("shape");
    }

    [Fact]
    public async Task AQuotedIdempotencyKeyIsTheSameKeyAsTheBareOne()
    {
        var body = $$"""{"urls":["{{Upstream.Url("/ok")}}"]}""";

        async Task<(HttpStatusCode, Guid, bool)> PostAsync(string key)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/batches") { Content = new StringContent(body, MediaTypeHeaderValue.Parse("application/json")) };
            request.Headers.TryAddWithoutValidation("Idempotency-Key", key);
            using var response = await Client.SendAsync(request, Ct);
            var json = JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!;
            return (response.StatusCode, json["id"]!.GetValue<Guid>(), response.Headers.Contains("Idempotent-Replayed"));
        }

        var (firstStatus, first, firstReplayed) = await PostAsync("\"order-42\"");
        var (secondStatus, second, secondReplayed) = await PostAsync("order-42");

        Assert.Equal((HttpStatusCode.Accepted, HttpStatusCode.Accepted), (firstStatus, secondStatus));
        Assert.Equal(first, second);
        Assert.Equal((false, true), (firstReplayed, secondReplayed));
    }

    [Fact]
    public async Task ABatchLargerThanTheWholeBacklogIsA400ThatSaysWhyNotA503()
    {
        var urls = string.Join(",", Enumerable.Range(0, 51).Select(i => $"\"{Upstream.Url($"/ok?i={i}")}\""));

        var (status, body, response) = await Client.PostRawAsync("/batches", $$"""{"urls":[{{urls}}]}""");

        AssertProblem(response, body, HttpStatusCode.BadRequest, "validation_failed");
        Assert.Contains("Engine:MaxBacklog", body!["errors"]!["urls"]![0]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.False(response.Headers.Contains("Retry-After"));
        Assert.Equal(HttpStatusCode.BadRequest, status);
    }

    [Theory]
    [InlineData("application/xml")]
    [InlineData("text/event-stream")]
    [InlineData("text/html")]
    public async Task ErrorsAreProblemJsonWhateverTheClientAccepts(string accept)
    {
        using var outside = ContractViolations.OutsideTheDocument("PUT /batches is no operation");
        using var wrongMethod = new HttpRequestMessage(HttpMethod.Put, "/batches");
        wrongMethod.Headers.Accept.ParseAdd(accept);
        using var notJson = new HttpRequestMessage(HttpMethod.Post, "/batches") { Content = new StringContent("urls=x", MediaTypeHeaderValue.Parse("text/plain")) };
        notJson.Headers.Accept.ParseAdd(accept);

        using var methodResponse = await Client.SendAsync(wrongMethod, Ct);
        using var mediaResponse = await Client.SendAsync(notJson, Ct);

        AssertProblem(methodResponse, JsonNode.Parse(await methodResponse.Content.ReadAsStringAsync(Ct))!.AsObject(), HttpStatusCode.MethodNotAllowed,
            "method_not_allowed");
        AssertProblem(mediaResponse, JsonNode.Parse(await mediaResponse.Content.ReadAsStringAsync(Ct))!.AsObject(), HttpStatusCode.UnsupportedMediaType,
            "unsupported_media_type");
    }

    [Theory]
    [InlineData("""{"urls": 5}""", "malformed_json", "urls")]
    [InlineData("""{"urls": ["http://127.0.0.1/"], "extra": 1}""", "malformed_json", "extra")]
    [InlineData("""{"urls": [""", "malformed_json", "urls[0]")]
    [InlineData("""{"urls": []}""", "validation_failed", "urls")]
    public async Task EachKindOfBadBodyHasItsOwnTypeAndNoDotnetNamesInTheDetail(string json, string code, string field)
    {
        var (_, body, response) = await Client.PostRawAsync("/batches", json);

        AssertProblem(response, body, HttpStatusCode.BadRequest, code);
        Assert.True(body!["errors"]!.AsObject().ContainsKey(field), body.ToJsonString());
        Assert.DoesNotContain("System.", body.ToJsonString(), StringComparison.Ordinal);
        Assert.DoesNotContain("CreateBatchRequest", body.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task EveryProblemTypeDereferencesToItsDescription()
    {
        var types = (await Client.GetFromJsonAsync<JsonArray>("/problems", Ct))!;
        Assert.Equal(types.Count, types.Select(t => t!["type"]!.GetValue<string>()).Distinct().Count());

        foreach (var type in types)
        {
            var uri = type!["type"]!.GetValue<string>();
            var described = await Client.GetJsonAsync(uri);
            Assert.Equal(type["code"]!.GetValue<string>(), described["code"]!.GetValue<string>());
            Assert.Equal(uri, $"/problems/{described["code"]!.GetValue<string>()}");
        }

        var (_, missing, response) = await GetAsync(Client, "/problems/no_such_code");
        AssertProblem(response, missing, HttpStatusCode.NotFound, "not_found");
    }
}
