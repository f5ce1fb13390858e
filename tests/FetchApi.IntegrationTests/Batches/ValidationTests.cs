using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FetchApi.IntegrationTests.Batches;

/// <summary>
/// One service with small limits, so that each limit is easy to cross, and a loopback upstream for the URLs that are valid.
/// The tests only read state (every batch they create is their own), so they share it.
/// </summary>
public sealed class SmallLimitsFixture() : ServiceWithUpstream(new Dictionary<string, string?>
{
    ["Batches:MaxUrlsPerBatch"] = $"{SmallLimitsFixture.MaxUrlsPerBatch}",
    ["Batches:MaxUrlLength"] = $"{SmallLimitsFixture.MaxUrlLength}",
    ["Batches:MaxRequestBodyBytes"] = $"{SmallLimitsFixture.MaxRequestBodyBytes}",
})
{
    public const int MaxUrlsPerBatch = 3;
    public const int MaxUrlLength = 64;
    public const int MaxRequestBodyBytes = 2048;
}

/// <summary>Every malformed request gets a 4xx RFC 9457 problem that names what was wrong; none gets a 500.</summary>
public sealed class ValidationTests(SmallLimitsFixture fixture) : IClassFixture<SmallLimitsFixture>
{
    readonly HttpClient _client = fixture.Client;

    string Ok => fixture.Upstream.Url("/ok");

    async Task<JsonObject> PostExpectingProblemAsync(string body, HttpStatusCode status, string contentType = "application/json")
    {
        using var response = await _client.PostTextAsync("/batches", body, contentType);
        return await response.ReadProblemAsync(status);
    }

    Task<JsonObject> PostExpectingValidationProblemAsync(object request) =>
        PostExpectingProblemAsync(JsonSerializer.Serialize(request), HttpStatusCode.BadRequest);

    async Task<JsonObject> PostExpectingAcceptedAsync(string body)
    {
        using var response = await _client.PostTextAsync("/batches", body);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"expected 202, got {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    // ---- urls ----

    [Fact]
    public async Task PostingBatchWithoutUrlsReturnsProblemNamingUrls()
    {
        var problem = await PostExpectingProblemAsync("""{"options":{"concurrency":2}}""", HttpStatusCode.BadRequest);

        Assert.Equal("validation_failed", problem.Code());
        problem.AssertErrorsName("urls");
    }

    [Fact]
    public async Task PostingBatchWithEmptyUrlsReturnsProblemNamingUrls()
    {
        var problem = await PostExpectingValidationProblemAsync(new { urls = Array.Empty<string>() });

        Assert.Equal("validation_failed", problem.Code());
        problem.AssertErrorsName("urls");
    }

    [Fact]
    public async Task PostingMoreUrlsThanTheLimitReturnsProblemNamingUrls()
    {
        var urls = Enumerable.Range(0, SmallLimitsFixture.MaxUrlsPerBatch + 1).Select(i => $"{Ok}?i={i}").ToArray();

        var problem = await PostExpectingValidationProblemAsync(new { urls });

        Assert.Equal("validation_failed", problem.Code());
        problem.AssertErrorsName("urls");
    }

    [Fact]
    public async Task PostingExactlyTheMaximumNumberOfUrlsIsAccepted()
    {
        var urls = Enumerable.Range(0, SmallLimitsFixture.MaxUrlsPerBatch).Select(i => $"{Ok}?i={i}").ToArray();

        var summary = await PostExpectingAcceptedAsync(JsonSerializer.Serialize(new { urls }));

        Assert.Equal(SmallLimitsFixture.MaxUrlsPerBatch, summary["counts"]!["total"]!.GetValue<int>());
    }

    [Fact]
    public async Task PostingBatchWithOverlongUrlReturnsProblemNamingItsIndex()
    {
        var tooLong = $"{Ok}?q=" + new string('a', SmallLimitsFixture.MaxUrlLength);

        var problem = await PostExpectingValidationProblemAsync(new { urls = new[] { Ok, tooLong } });

        Assert.Equal("validation_failed", problem.Code());
        problem.AssertErrorsName("urls[1]");
    }

    [Theory]
    [InlineData("relative path", "/relative/path")]
    [InlineData("host without scheme", "example.com/a")]
    [InlineData("ftp scheme", "ftp://example.com/file.txt")]
    [InlineData("file scheme", "file:///etc/passwd")]
    [InlineData("data scheme", "data:text/plain,hello")]
    [InlineData("javascript scheme", "javascript:alert(1)")]
    [InlineData("gopher scheme", "gopher://example.com/")]
    [InlineData("user and password", "http://u:p@example.com/")]
    [InlineData("user only", "http://user@example.com/")]
    [InlineData("port out of range", "http://example.com:99999/")]
    [InlineData("non-numeric port", "http://example.com:http/")]
    [InlineData("CR", "http://example.com/a\rb")]
    [InlineData("LF", "http://example.com/a\nb")]
    [InlineData("CRLF header injection", "http://example.com/\r\nX-Injected: 1")]
    [InlineData("NUL", "http://example.com/a\0b")]
    [InlineData("space", "http://example.com/a b")]
    [InlineData("empty string", "")]
    [InlineData("no host", "http:///path")]
    public async Task PostingBatchWithUnfetchableUrlReturnsProblemNamingItsIndex(string why, string url)
    {
        var problem = await PostExpectingValidationProblemAsync(new { urls = new[] { Ok, Ok, url } });

        Assert.True(problem.Code() == "validation_failed", $"{why}: {problem.ToJsonString()}");
        problem.AssertErrorsName("urls[2]");
    }

    [Fact]
    public async Task PostingBatchWithFtpUrlReturnsProblemNamingTheField()
    {
        var problem = await PostExpectingValidationProblemAsync(new { urls = (string[])["ftp://example.com/"] });

        Assert.Equal("validation_failed", problem.Code());
        problem.AssertErrorsName("urls[0]");
        Assert.Contains("ftp", problem["errors"]!["urls[0]"]![0]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PostingBatchWithNullInsideUrlsReturnsProblemNamingItsIndex()
    {
        var problem = await PostExpectingProblemAsync($$"""{"urls":["{{Ok}}",null]}""", HttpStatusCode.BadRequest);

        Assert.Equal("validation_failed", problem.Code());
        problem.AssertErrorsName("urls[1]");
    }

    [Fact]
    public async Task PostingBatchWithSeveralBadUrlsNamesEachOfThem()
    {
        var problem = await PostExpectingValidationProblemAsync(new { urls = new[] { "ftp://a/", Ok, "http://u:p@b/" } });

        problem.AssertErrorsName("urls[0]", "urls[2]");
    }

    [Theory]
    [InlineData("IDN host", "http://bücher.localhost:{port}/ok", "fetched")]
    [InlineData("punycode host", "http://xn--bcher-kva.localhost:{port}/ok", "fetched")]
    [InlineData("fragment", "http://127.0.0.1:{port}/ok#section", "fetched")]
    [InlineData("upper-case scheme", "HTTP://127.0.0.1:{port}/ok", "fetched")]
    [InlineData("IPv6 literal", "http://[::1]:{port}/ok", "blocked_address")] // the test hosts open 127.0.0.0/8 only
    public async Task PostingBatchWithUnusualButValidUrlIsAcceptedAndGetsItsResult(string why, string url, string outcome)
    {
        // Loopback in every spelling (a *.localhost name is loopback, RFC 6761): a test never submits a public host.
        url = url.Replace("{port}", fixture.Upstream.BaseAddress.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        var body = JsonSerializer.Serialize(new { urls = new[] { url }, options = new { timeoutSeconds = 5, maxAttempts = 1 } });

        var summary = await PostExpectingAcceptedAsync(body);

        Assert.True(summary["counts"]!["total"]!.GetValue<int>() == 1, $"{why}: {summary.ToJsonString()}");
        var slot = Assert.Single(await fixture.Client.ResultsAsync(summary["id"]!.GetValue<Guid>()));
        Assert.True((slot.State() == "fetched" ? "fetched" : slot.ErrorCode()) == outcome, $"{why}: {slot.ToJsonString()}");
    }

    [Fact]
    public async Task DuplicateUrlsAreAcceptedWithOneSlotEach()
    {
        var summary = await PostExpectingAcceptedAsync(JsonSerializer.Serialize(new { urls = new[] { Ok, Ok, Ok } }));

        Assert.Equal(3, summary["counts"]!["total"]!.GetValue<int>());
    }

    // ---- options ----

    [Theory]
    [InlineData("""{"concurrency":0}""", "options.concurrency")]
    [InlineData("""{"concurrency":-1}""", "options.concurrency")]
    [InlineData("""{"concurrency":257}""", "options.concurrency")]
    [InlineData("""{"maxAttempts":0}""", "options.maxAttempts")]
    [InlineData("""{"maxAttempts":11}""", "options.maxAttempts")]
    [InlineData("""{"timeoutSeconds":0}""", "options.timeoutSeconds")]
    [InlineData("""{"timeoutSeconds":-5}""", "options.timeoutSeconds")]
    [InlineData("""{"timeoutSeconds":121}""", "options.timeoutSeconds")]
    [InlineData("""{"method":"POST"}""", "options.method")]
    [InlineData("""{"method":"DELETE"}""", "options.method")]
    [InlineData("""{"method":""}""", "options.method")]
    [InlineData("""{"maxBodyBytes":10485761}""", "options.maxBodyBytes")]
    [InlineData("""{"maxBodyBytes":-1}""", "options.maxBodyBytes")]
    [InlineData("""{"maxRedirects":21}""", "options.maxRedirects")]
    [InlineData("""{"maxRedirects":-1}""", "options.maxRedirects")]
    public async Task PostingBatchWithOptionOutOfBoundsReturnsProblemNamingTheOption(string options, string field)
    {
        var problem = await PostExpectingProblemAsync($$$"""{"urls":["{{{Ok}}}"],"options":{{{options}}}}""", HttpStatusCode.BadRequest);

        Assert.Equal("validation_failed", problem.Code());
        problem.AssertErrorsName(field);
        // The message names the field as the JSON spells it, not as FluentValidation would split it ('Timeout Seconds').
        var message = problem["errors"]![field]![0]!.GetValue<string>();
        Assert.Contains($"'{field["options.".Length..]}'", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"headers":{"Host":"evil.example"}}""", "options.headers.Host")]
    [InlineData("""{"headers":{"Cookie":"session=1"}}""", "options.headers.Cookie")]
    [InlineData("""{"headers":{"Connection":"close"}}""", "options.headers.Connection")]
    [InlineData("""{"headers":{"Transfer-Encoding":"chunked"}}""", "options.headers.Transfer-Encoding")]
    [InlineData("""{"headers":{"Content-Length":"5"}}""", "options.headers.Content-Length")]
    [InlineData("""{"headers":{"host":"lower-case.example"}}""", "options.headers.host")]
    [InlineData("""{"headers":{"X-Test":"a\r\nX-Injected: 1"}}""", "options.headers.X-Test")]
    [InlineData("""{"headers":{"X-Test":"a\nb"}}""", "options.headers.X-Test")]
    [InlineData("""{"headers":{"X-Test":"a\rb"}}""", "options.headers.X-Test")]
    [InlineData("""{"headers":{"X-Test":"a\u0000b"}}""", "options.headers.X-Test")]
    [InlineData("""{"headers":{"Bad Name":"x"}}""", "options.headers.Bad Name")]
    public async Task PostingBatchWithForbiddenOrBrokenHeaderReturnsProblemNamingTheHeader(string options, string field)
    {
        var problem = await PostExpectingProblemAsync($$$"""{"urls":["{{{Ok}}}"],"options":{{{options}}}}""", HttpStatusCode.BadRequest);

        Assert.Equal("validation_failed", problem.Code());
        problem.AssertErrorsName(field);
    }

    [Fact]
    public async Task PostingBatchWithEveryOptionAtItsMaximumIsAccepted()
    {
        var body = $$$"""
            {"urls":["{{{Ok}}}"],"options":{"concurrency":256,"timeoutSeconds":120,"maxAttempts":10,"method":"HEAD",
             "headers":{"Accept":"text/plain","X-Trace":"a\tb"},"includeBody":true,"maxBodyBytes":10485760,
             "followRedirects":false,"maxRedirects":20}}
            """;

        var summary = await PostExpectingAcceptedAsync(body);

        var options = summary["options"]!;
        Assert.Equal(256, options["concurrency"]!.GetValue<int>());
        Assert.Equal("HEAD", options["method"]!.GetValue<string>());
        Assert.Equal(10_485_760, options["maxBodyBytes"]!.GetValue<long>());
        Assert.Null(options["headers"]);
    }

    // ---- JSON that does not fit the contract ----

    [Theory]
    [InlineData("truncated", """{"urls":["http://example.com/" """)]
    [InlineData("trailing comma", """{"urls":["http://example.com/"],}""")]
    [InlineData("single quotes", """{'urls':['http://example.com/']}""")]
    [InlineData("not JSON at all", "urls=http://example.com/")]
    [InlineData("two documents", """{"urls":["http://example.com/"]}{}""")]
    public async Task PostingMalformedJsonReturnsBadRequestWithMalformedJsonCode(string why, string body)
    {
        var problem = await PostExpectingProblemAsync(body, HttpStatusCode.BadRequest);

        Assert.True(problem.Code() == "malformed_json", $"{why}: {problem.ToJsonString()}");
    }

    [Theory]
    [InlineData("""{"urls":"x"}""", "urls")]
    [InlineData("""{"urls":[1]}""", "urls[0]")]
    [InlineData("""{"urls":["http://example.com/",{"url":"http://example.com/"}]}""", "urls[1]")]
    [InlineData("""{"urls":["http://example.com/"],"options":{"concurrency":"many"}}""", "options.concurrency")]
    [InlineData("""{"urls":["http://example.com/"],"options":{"includeBody":"yes"}}""", "options.includeBody")]
    [InlineData("""{"urls":["http://example.com/"],"options":{"maxAttempts":2.5}}""", "options.maxAttempts")]
    [InlineData("""{"urls":["http://example.com/"],"options":{"headers":{"Accept":1}}}""", "options.headers.Accept")]
    [InlineData("""{"urls":["http://example.com/"],"options":"fast"}""", "options")]
    public async Task PostingFieldOfTheWrongJsonTypeReturnsProblemNamingTheField(string body, string field)
    {
        var problem = await PostExpectingProblemAsync(body, HttpStatusCode.BadRequest);

        Assert.False(string.IsNullOrEmpty(problem.Code()), problem.ToJsonString());
        problem.AssertErrorsName(field);
    }

    [Theory]
    [InlineData("""{"urls":["http://example.com/"],"bogus":1}""", "bogus")]
    [InlineData("""{"urls":["http://example.com/"],"options":{"concurrency":2,"bogus":true}}""", "options.bogus")]
    public async Task PostingUnknownFieldReturnsProblemNamingIt(string body, string field)
    {
        var problem = await PostExpectingProblemAsync(body, HttpStatusCode.BadRequest);

        Assert.False(string.IsNullOrEmpty(problem.Code()), problem.ToJsonString());
        problem.AssertErrorsName(field);
    }

    [Fact]
    public async Task PostingDeeplyNestedArraysReturnsBadRequest()
    {
        var nested = new string('[', 200) + new string(']', 200);

        await PostExpectingProblemAsync(nested, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task PostingDeeplyNestedValueInsideAFieldReturnsBadRequest()
    {
        var nested = new string('[', 200) + new string(']', 200);

        await PostExpectingProblemAsync($$"""{"urls":{{nested}}}""", HttpStatusCode.BadRequest);
    }

    [Theory]
    [InlineData("empty body", "")]
    [InlineData("JSON null", "null")]
    [InlineData("JSON array", """["http://example.com/"]""")]
    [InlineData("JSON string", "\"http://example.com/\"")]
    public async Task PostingBodyThatIsNotABatchObjectReturnsBadRequest(string why, string body)
    {
        var problem = await PostExpectingProblemAsync(body, HttpStatusCode.BadRequest);

        Assert.True(!string.IsNullOrEmpty(problem.Code()), $"{why}: {problem.ToJsonString()}");
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("application/xml")]
    public async Task PostingNonJsonContentTypeReturnsUnsupportedMediaType(string contentType)
    {
        var problem = await PostExpectingProblemAsync(JsonSerializer.Serialize(new { urls = new[] { Ok } }),
            HttpStatusCode.UnsupportedMediaType, contentType);

        Assert.Equal("unsupported_media_type", problem.Code());
    }

    [Fact]
    public async Task PostingBodyOverTheSizeLimitReturnsPayloadTooLarge()
    {
        // Valid JSON, padded with whitespace: only its size is wrong.
        var body = JsonSerializer.Serialize(new { urls = new[] { Ok } }) + new string(' ', SmallLimitsFixture.MaxRequestBodyBytes);

        var problem = await PostExpectingProblemAsync(body, HttpStatusCode.RequestEntityTooLarge);

        Assert.Equal("payload_too_large", problem.Code());
    }

    // ---- GET /batches/{id} and GET /batches ----

    async Task<Guid> CreateBatchAsync() => await _client.SubmitAsync([Ok]);

    [Theory]
    [InlineData("limit=5000", "limit")]
    [InlineData("limit=1001", "limit")]
    [InlineData("limit=-1", "limit")]
    [InlineData("offset=-1", "offset")]
    [InlineData("state=bogus", "state")]
    [InlineData("state=1", "state")]
    public async Task ReadingBatchWithBadQueryReturnsProblemNamingTheParameter(string query, string parameter)
    {
        var id = await CreateBatchAsync();

        using var response = await _client.GetAsync($"/batches/{id}?{query}", TestContext.Current.CancellationToken);
        var problem = await response.ReadProblemAsync(HttpStatusCode.BadRequest);

        Assert.False(string.IsNullOrEmpty(problem.Code()), problem.ToJsonString());
        problem.AssertErrorsName(parameter);
    }

    [Theory]
    [InlineData("limit=abc", "limit")]
    [InlineData("offset=x", "offset")]
    [InlineData("results=maybe", "results")]
    public async Task ReadingBatchWithUnparsableQueryValueReturnsProblemNamingTheParameter(string query, string parameter)
    {
        var id = await CreateBatchAsync();

        using var response = await _client.GetAsync($"/batches/{id}?{query}", TestContext.Current.CancellationToken);
        var problem = await response.ReadProblemAsync(HttpStatusCode.BadRequest);

        problem.AssertErrorsName(parameter);
    }

    [Fact]
    public async Task ReadingBatchWithSeveralBadQueryValuesNamesEachParameter()
    {
        var id = await CreateBatchAsync();

        using var response = await _client.GetAsync($"/batches/{id}?limit=5000&offset=-1&state=bogus", TestContext.Current.CancellationToken);
        var problem = await response.ReadProblemAsync(HttpStatusCode.BadRequest);

        Assert.Equal("validation_failed", problem.Code());
        problem.AssertErrorsName("limit", "offset", "state");
    }

    [Theory]
    [InlineData("status=bogus", "status")]
    [InlineData("status=2", "status")]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=101", "limit")]
    [InlineData("cursor=abc", "cursor")]
    public async Task ListingBatchesWithBadQueryReturnsProblemNamingTheParameter(string query, string parameter)
    {
        using var response = await _client.GetAsync($"/batches?{query}", TestContext.Current.CancellationToken);
        var problem = await response.ReadProblemAsync(HttpStatusCode.BadRequest);

        Assert.False(string.IsNullOrEmpty(problem.Code()), problem.ToJsonString());
        problem.AssertErrorsName(parameter);
    }

    [Theory]
    [InlineData("limit=ten", "limit")]
    public async Task ListingBatchesWithUnparsableQueryValueReturnsProblemNamingTheParameter(string query, string parameter)
    {
        using var response = await _client.GetAsync($"/batches?{query}", TestContext.Current.CancellationToken);
        var problem = await response.ReadProblemAsync(HttpStatusCode.BadRequest);

        problem.AssertErrorsName(parameter);
    }

    [Fact]
    public async Task ReadingUnknownBatchReturnsNotFoundProblem()
    {
        using var response = await _client.GetAsync($"/batches/{Guid.CreateVersion7()}", TestContext.Current.CancellationToken);
        var problem = await response.ReadProblemAsync(HttpStatusCode.NotFound);

        Assert.Equal("not_found", problem.Code());
    }

    [Fact]
    public async Task ReadingUnknownBatchSummaryReturnsNotFoundProblem()
    {
        using var response = await _client.GetAsync($"/batches/{Guid.CreateVersion7()}?results=false", TestContext.Current.CancellationToken);
        var problem = await response.ReadProblemAsync(HttpStatusCode.NotFound);

        Assert.Equal("not_found", problem.Code());
    }

    [Theory]
    [InlineData("/batches/not-a-guid")]
    [InlineData("/batches/12345")]
    public async Task ReadingBatchWithMalformedIdReturnsNotFoundProblem(string path)
    {
        using var response = await _client.GetAsync(path, TestContext.Current.CancellationToken);
        var problem = await response.ReadProblemAsync(HttpStatusCode.NotFound);

        Assert.Equal("not_found", problem.Code());
    }

    [Fact]
    public async Task CancellingUnknownBatchReturnsNotFoundProblem()
    {
        using var response = await _client.PostAsync($"/batches/{Guid.CreateVersion7()}/cancel", null, TestContext.Current.CancellationToken);
        var problem = await response.ReadProblemAsync(HttpStatusCode.NotFound);

        Assert.Equal("not_found", problem.Code());
    }

    [Fact]
    public async Task DeletingUnknownBatchReturnsNotFoundProblem()
    {
        using var response = await _client.DeleteAsync($"/batches/{Guid.CreateVersion7()}", TestContext.Current.CancellationToken);
        var problem = await response.ReadProblemAsync(HttpStatusCode.NotFound);

        Assert.Equal("not_found", problem.Code());
    }
}
