using System.Net;
using System.Text.Json;
using FetchApi.IntegrationTests.ApiTests;
using FetchApi.Urls;

namespace FetchApi.IntegrationTests.Urls;

/// <summary>
/// <c>POST /urls/check</c> on the test service (loopback opened by <c>Security:AllowedNetworks</c>, everything else
/// denied): one verdict per URL in order, invalid URLs as verdicts, duplicates, and nothing fetched or stored.
/// </summary>
public sealed class UrlCheckTests(ServiceFixture fixture) : IClassFixture<ServiceFixture>
{
    readonly HttpClient _client = fixture.Client;
    readonly int _port = fixture.Upstream.BaseAddress.Port;

    [Fact]
    public async Task EveryUrlGetsOneVerdictAtItsIndexInInputOrder()
    {
        string?[] urls =
        [
            $"http://127.0.0.1:{_port}/ok", "ftp://127.0.0.1/file", $"HTTP://LOCALHOST:{_port}/a/../ok#top", null,
            $"http://[::1]:{_port}/", "http://127.0.0.1:99999/",
        ];

        var results = await _client.CheckUrlsAsync(urls);

        Assert.Equal([0, 1, 2, 3, 4, 5], results.Select(r => r["index"]!.GetValue<int>()));
        Assert.Equal(urls, results.Select(r => r["url"]?.GetValue<string>()));
        Assert.Equal(["allowed", "invalid", "allowed", "invalid", "blocked", "invalid"], results.Select(r => r.Verdict()));
        Assert.Equal($"http://localhost:{_port}/ok", results[2].Normalized());
        Assert.Equal(("localhost", _port), (results[2]["host"]!.GetValue<string>(), results[2]["port"]!.GetValue<int>()));
        Assert.Equal($"::1 is in ::1/128 (loopback)", results[4].Reason());
    }

    [Fact]
    public async Task InvalidUrlsAreVerdictsNamingTheRuleNotABadRequest()
    {
        string?[] urls = [null, "ftp://127.0.0.1/file", "127.0.0.1/no-scheme", "http://user:pw@127.0.0.1/", "http://127.0.0.1/a b"];

        var results = await _client.CheckUrlsAsync(urls);

        Assert.All(results, r => Assert.Equal("invalid", r.Verdict()));
        Assert.All(results, r => Assert.Null(r.Normalized()));
        Assert.Equal("The URL must be an absolute http or https URL; it is empty.", results[0].Reason());
        Assert.Equal("The URL has scheme 'ftp'; only http and https are fetched.", results[1].Reason());
        Assert.StartsWith("The URL is not an absolute URL", results[2].Reason(), StringComparison.Ordinal);
        Assert.StartsWith("The URL must not contain user-info", results[3].Reason(), StringComparison.Ordinal);
        Assert.StartsWith("The URL must not contain spaces", results[4].Reason(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DuplicatesPointAtTheFirstUrlWithTheSameNormalizedForm()
    {
        string[] urls =
        [
            $"http://127.0.0.1:{_port}/b", $"http://0x7f000001:{_port}/a/../b", $"http://127.0.0.1:{_port}/c",
            $"HTTP://127.1:{_port}/b#fragment", $"http://127.0.0.1:{_port}/b?", "http://127.0.0.1:80/", "http://127.0.0.1/",
        ];

        var results = await _client.CheckUrlsAsync(urls);

        Assert.Equal([null, 0, null, 0, null, null, 5], results.Select(r => r.DuplicateOf()));
        Assert.All(results.Where(r => r.DuplicateOf() is not null), r => Assert.Equal(results[r.DuplicateOf()!.Value].Normalized(), r.Normalized()));
        Assert.Equal("http://127.0.0.1/", results[5].Normalized());
    }

    [Fact]
    public async Task OpenedLoopbackIsAllowedSayingWhichRangeOpensIt()
    {
        var results = await _client.CheckUrlsAsync([$"http://127.0.0.1:{_port}/", $"http://localhost:{_port}/"], resolve: true);

        Assert.All(results, r => Assert.Equal("allowed", r.Verdict()));
        Assert.Equal("127.0.0.1 is in 127.0.0.0/8 (loopback), opened by Security:AllowedNetworks (127.0.0.0/8)", results[0].Reason());
        Assert.Equal("localhost names always mean loopback (RFC 6761) and are never looked up: " +
                     "127.0.0.1 is in 127.0.0.0/8 (loopback), opened by Security:AllowedNetworks (127.0.0.0/8)", results[1].Reason());
        Assert.Equal(["127.0.0.1"], results[1].Addresses());
    }

    [Fact]
    public async Task CountsAddUpAndCountDuplicates()
    {
        var report = await _client.CheckAsync(new
        {
            urls = new[] { $"http://127.0.0.1:{_port}/", $"http://127.0.0.1:{_port}/", "http://[::1]/", "ftp://127.0.0.1/" },
        });

        Assert.Equal("""{"total":4,"allowed":2,"blocked":1,"invalid":1,"duplicates":1}""", report["counts"]!.ToJsonString());
    }

    [Fact]
    public async Task NothingIsFetchedOrStored()
    {
        await _client.CheckUrlsAsync([$"http://127.0.0.1:{_port}/ok", $"http://localhost:{_port}/ok"], resolve: true);

        Assert.Equal(0, fixture.Upstream.Requests);
        var batches = await _client.GetJsonAsync("/batches");
        Assert.Empty(batches["batches"]!.AsArray());
    }

    // ---- bodies that are not a list of URLs: 400 naming the field, as for POST /batches ----

    [Theory]
    [InlineData("{}", "urls")]
    [InlineData("""{"resolve":true}""", "urls")]
    [InlineData("""{"urls":[]}""", "urls")]
    [InlineData("""{"urls":null}""", "urls")]
    public async Task BodyWithoutUrlsIsAValidationProblemNamingUrls(string body, string field)
    {
        using var response = await _client.PostTextAsync("/urls/check", body);
        var problem = await response.ReadProblemAsync(HttpStatusCode.BadRequest);

        Assert.Equal("validation_failed", problem.Code());
        problem.AssertErrorsName(field);
    }

    [Theory]
    [InlineData("""{"urls":"http://127.0.0.1/"}""", "urls")]
    [InlineData("""{"urls":[1]}""", "urls[0]")]
    [InlineData("""{"urls":["http://127.0.0.1/"],"resolve":"yes"}""", "resolve")]
    [InlineData("""{"urls":["http://127.0.0.1/"],"options":{}}""", "options")]
    public async Task BodyOfTheWrongShapeIsAProblemNamingTheField(string body, string field)
    {
        using var response = await _client.PostTextAsync("/urls/check", body);
        var problem = await response.ReadProblemAsync(HttpStatusCode.BadRequest);

        Assert.Equal("malformed_json", problem.Code());
        problem.AssertErrorsName(field);
    }

    [Theory]
    [InlineData("""{"urls":["http://127.0.0.1/" """)]
    [InlineData("urls=http://127.0.0.1/")]
    [InlineData("")]
    public async Task BodyThatIsNotJsonIsAProblem(string body)
    {
        using var response = await _client.PostTextAsync("/urls/check", body);
        var problem = await response.ReadProblemAsync(HttpStatusCode.BadRequest);

        Assert.False(string.IsNullOrEmpty(problem.Code()), problem.ToJsonString());
    }

    [Fact]
    public async Task BodyThatIsNotSentAsJsonIsUnsupportedMediaType()
    {
        using var response = await _client.PostTextAsync("/urls/check", """{"urls":["http://127.0.0.1/"]}""", "text/plain");

        Assert.Equal("unsupported_media_type", (await response.ReadProblemAsync(HttpStatusCode.UnsupportedMediaType)).Code());
    }

    // ---- the OpenAPI document ----

    [Fact]
    public async Task CheckUrlsIsDocumentedWithAnExampleThatValidatesAndEveryVerdict()
    {
        var document = await _client.GetJsonAsync("/swagger/v1/swagger.json");
        var operation = document["paths"]!["/urls/check"]!["post"]!;

        Assert.Equal("CheckUrls", operation["operationId"]!.GetValue<string>());
        Assert.False(string.IsNullOrWhiteSpace(operation["summary"]?.GetValue<string>()));
        foreach (var status in new[] { "200", "400", "401", "413", "415", "429" })
        {
            Assert.True(operation["responses"]![status] is not null, $"CheckUrls does not document {status}");
        }

        // The example names public hosts: it is validated here, never submitted (network rule).
        var example = operation["requestBody"]!["content"]!["application/json"]!["example"]!;
        var request = example.Deserialize<CheckUrlsRequest>(JsonSerializerOptions.Web)!;
        var validator = fixture.Factory.Services.GetRequiredService<FluentValidation.IValidator<CheckUrlsRequest>>();
        Assert.True((await validator.ValidateAsync(request, TestContext.Current.CancellationToken)).IsValid, example.ToJsonString());
        Assert.True(request.Urls!.Count >= 5, example.ToJsonString());

        var verdicts = document["components"]!["schemas"]!["UrlVerdict"]!["enum"]!.AsArray().Select(v => v!.GetValue<string>());
        Assert.Equal(["allowed", "blocked", "invalid"], verdicts);
        var entry = document["components"]!["schemas"]!["UrlCheck"]!["properties"]!.AsObject().Select(p => p.Key);
        Assert.Superset(new HashSet<string> { "index", "url", "verdict", "reason", "normalized", "host", "port", "duplicateOf" }, entry.ToHashSet());
    }
}
