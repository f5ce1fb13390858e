using System.Net;

namespace FetchApi.IntegrationTests.Urls;

/// <summary>
/// <c>normalized</c> is what the engine really requests: a batch fetches oddly spelled loopback URLs from an upstream
/// that echoes the Host header and request target it received, and the check of the same URLs says exactly that.
/// </summary>
public sealed class UrlCheckEngineTests : ServiceWithUpstream
{
    [Fact]
    public async Task NormalizedUrlIsTheUrlTheEngineRequests()
    {
        var port = Upstream.BaseAddress.Port;
        string[] urls =
        [
            $"HTTP://LOCALHOST:{port}/target/a/./b/../c?x=1#fragment",
            $"http://0x7f000001:{port}/target/%7Euser/%2e%2e/d%2fe",
            $"http://127.1:{port}/target/stra\u00dfe?q=\u00e4",
            $"http://2130706433:{port}/target?",
            $"http://localhost.:{port}/target/x/../../target/y",
        ];

        var id = await Client.SubmitAsync(urls, new { includeBody = true, maxAttempts = 1 });
        var slots = await Client.ResultsAsync(id);
        var checks = await Client.CheckUrlsAsync(urls);

        for (var i = 0; i < urls.Length; i++)
        {
            Assert.True(slots[i].State() == "fetched" && slots[i].StatusCode() == 200, $"{urls[i]}: {slots[i].ToJsonString()}");
            var requested = "http://" + slots[i]["response"]!["body"]!.GetValue<string>();
            Assert.Equal(requested, checks[i].Normalized());
        }

        Assert.Equal(urls.Length, Upstream.Requests); // the check itself requested nothing
        Assert.Equal(HttpStatusCode.OK, (await Client.GetAsync($"/batches/{id}", TestContext.Current.CancellationToken)).StatusCode);
    }
}
