using System.Net;

namespace FetchApi.IntegrationTests.Urls;

/// <summary>A service that refuses every address, loopback included, and takes at most 3 URLs of 64 characters.</summary>
public sealed class DenyEverythingFixture() : ServiceWithUpstream(new Dictionary<string, string?>
{
    ["Security:AllowedNetworks:0"] = null,
    ["Batches:MaxUrlsPerBatch"] = "3",
    ["Batches:MaxUrlLength"] = "64",
});

/// <summary>Blocked verdicts name the address and the range, whatever the spelling, and the batch limits apply.</summary>
public sealed class UrlCheckPolicyTests(DenyEverythingFixture fixture) : IClassFixture<DenyEverythingFixture>
{
    readonly HttpClient _client = fixture.Client;

    const string LocalhostRule = "localhost names always mean loopback (RFC 6761) and are never looked up: ";

    [Theory]
    [InlineData("http://127.0.0.1/", "127.0.0.1 is in 127.0.0.0/8 (loopback)")]
    [InlineData("http://127.0.0.2:8080/x", "127.0.0.2 is in 127.0.0.0/8 (loopback)")]
    [InlineData("http://0x7f000001/", "127.0.0.1 is in 127.0.0.0/8 (loopback)")]
    [InlineData("http://2130706433/", "127.0.0.1 is in 127.0.0.0/8 (loopback)")]
    [InlineData("http://[::1]/", "::1 is in ::1/128 (loopback)")]
    [InlineData("http://[::ffff:7f00:1]/", "::ffff:127.0.0.1 is the IPv4-mapped form of 127.0.0.1, in 127.0.0.0/8 (loopback)")]
    [InlineData("http://localhost/", LocalhostRule + "127.0.0.1 is in 127.0.0.0/8 (loopback)")]
    [InlineData("http://LOCALHOST./", LocalhostRule + "127.0.0.1 is in 127.0.0.0/8 (loopback)")]
    public async Task LoopbackInAnySpellingIsBlockedNamingTheAddressAndTheRange(string url, string reason)
    {
        var check = Assert.Single(await _client.CheckUrlsAsync([url]));

        Assert.Equal(("blocked", reason), (check.Verdict(), check.Reason()));
        Assert.Equal(0, fixture.Upstream.Requests);
    }

    [Fact]
    public async Task ResolveJudgesLocalhostAsLoopbackWithoutAskingDns()
    {
        var results = await _client.CheckUrlsAsync(["http://localhost/", "http://[::1]/", "http://localhost:8080/a"], resolve: true);

        Assert.All(results, r => Assert.Equal("blocked", r.Verdict()));
        Assert.Equal(["127.0.0.1"], results[0].Addresses());
        Assert.Equal(["::1"], results[1].Addresses());
        Assert.Equal(LocalhostRule + "127.0.0.1 is in 127.0.0.0/8 (loopback)", results[2].Reason());
    }

    [Fact]
    public async Task MoreUrlsThanABatchMayHoldIsAProblemNamingUrls()
    {
        string[] urls = ["http://127.0.0.1/1", "http://127.0.0.1/2", "http://127.0.0.1/3", "http://127.0.0.1/4"];

        using var response = await _client.PostAsJsonAsync("/urls/check", new { urls }, TestContext.Current.CancellationToken);
        var problem = await response.ReadProblemAsync(HttpStatusCode.BadRequest);

        problem.AssertErrorsName("urls");
        Assert.Contains("at most 3", problem["errors"]!["urls"]![0]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task UrlLongerThanABatchMayHoldIsInvalidNotABadRequest()
    {
        var tooLong = "http://127.0.0.1/" + new string('a', 64);

        var results = await _client.CheckUrlsAsync(["http://127.0.0.1/", tooLong]);

        Assert.Equal(["blocked", "invalid"], results.Select(r => r.Verdict()));
        Assert.Equal("The URL is 81 characters long; at most 64 are allowed.", results[1].Reason());
    }
}
