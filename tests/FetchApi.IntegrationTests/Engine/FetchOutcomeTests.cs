using System.Security.Cryptography;
using System.Text;
using FetchApi.IntegrationTests.Upstream;

namespace FetchApi.IntegrationTests.Engine;

/// <summary>What each upstream behaviour becomes in its slot. One factory and one upstream for the class: the tests only read.</summary>
public sealed class FetchOutcomeTests(FetchOutcomeTests.Fixture fixture) : IClassFixture<FetchOutcomeTests.Fixture>
{
    public sealed class Fixture() : ServiceWithUpstream(new Dictionary<string, string?> { ["Engine:ConnectTimeout"] = "00:00:02" });

    HttpClient Client => fixture.Client;
    UpstreamServer Upstream => fixture.Upstream;
    static string Key() => Guid.NewGuid().ToString("N");

    [Fact]
    public async Task MixedBatchReturnsOneSlotPerUrlInInputOrder()
    {
        var closed = UpstreamServer.ClosedPort();
        var urls = new[]
        {
            Upstream.Url("/ok"),
            Upstream.Url("/status/404"),
            Upstream.Url("/status/500"),
            Upstream.Url("/delay/300"),
            $"http://127.0.0.1:{closed}/",
            Upstream.Url("/loop"),
            Upstream.Url("/ok"),
            Upstream.Url("/redirect/2"),
        };

        var id = await Client.SubmitAsync(urls, new { maxAttempts = 2 });
        var slots = await Client.ResultsAsync(id);

        Assert.Equal(urls.Length, slots.Count);
        for (var i = 0; i < urls.Length; i++)
        {
            Assert.Equal(i, slots[i]["index"]!.GetValue<int>());
            Assert.Equal(urls[i], slots[i]["url"]!.GetValue<string>());
        }

        Assert.Equal(("fetched", 200), (slots[0].State(), slots[0].StatusCode()));
        Assert.Equal(("fetched", 404), (slots[1].State(), slots[1].StatusCode()));
        Assert.Equal(1, slots[1].Attempts()); // a 404 is an answer, not a transient failure
        Assert.Equal(("fetched", 500), (slots[2].State(), slots[2].StatusCode()));
        Assert.Equal(2, slots[2].Attempts()); // 500 is retried up to maxAttempts, then reported as the response it is
        Assert.Equal(("fetched", 200), (slots[3].State(), slots[3].StatusCode()));
        Assert.Equal(("failed", "connection_refused"), (slots[4].State(), slots[4].ErrorCode()));
        Assert.Equal(2, slots[4].Attempts());
        Assert.Equal(("failed", "too_many_redirects"), (slots[5].State(), slots[5].ErrorCode()));
        Assert.Equal(1, slots[5].Attempts());
        Assert.Equal(("fetched", 200), (slots[6].State(), slots[6].StatusCode()));
        Assert.Equal(2, slots[7]["response"]!["redirects"]!.GetValue<int>());
        Assert.Equal(Upstream.Url("/redirect/0"), slots[7]["response"]!["finalUrl"]!.GetValue<string>());

        var summary = await Client.GetJsonAsync($"/batches/{id}?results=false");
        Assert.Equal("completed", summary["status"]!.GetValue<string>());
        Assert.Equal(6, summary["counts"]!["fetched"]!.GetValue<int>());
        Assert.Equal(2, summary["counts"]!["failed"]!.GetValue<int>());
        Assert.NotNull(summary["startedAt"]);
        Assert.NotNull(summary["completedAt"]);
    }

    [Fact]
    public async Task FetchedSlotCarriesStatusLengthAndSha256OfTheBody()
    {
        var id = await Client.SubmitAsync([Upstream.Url("/ok")]);
        var slot = (await Client.ResultsAsync(id))[0];
        var response = slot["response"]!;

        Assert.Equal("OK", response["reasonPhrase"]!.GetValue<string>());
        Assert.StartsWith("text/plain", response["contentType"]!.GetValue<string>());
        Assert.Equal(5, response["contentLength"]!.GetValue<long>());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData("hello"u8)), response["sha256"]!.GetValue<string>());
        Assert.Null(response["body"]); // includeBody defaults to false
    }

    [Fact]
    public async Task IncludeBodyReturnsTextDecodedByCharset()
    {
        var id = await Client.SubmitAsync([Upstream.Url("/text"), Upstream.Url("/bytes/10")], new { includeBody = true });
        var slots = await Client.ResultsAsync(id);

        Assert.Equal("<p>héllo wörld</p>", slots[0]["response"]!["body"]!.GetValue<string>());
        Assert.Null(slots[1]["response"]!["body"]); // binary content is counted and hashed, not returned
        Assert.Equal(10, slots[1]["response"]!["contentLength"]!.GetValue<long>());
    }

    [Fact]
    public async Task FlakyUrlIsRetriedUntilItSucceeds()
    {
        var key = Key();
        var id = await Client.SubmitAsync([Upstream.Url($"/flaky/{key}/2")], new { maxAttempts = 3 });
        var slot = (await Client.ResultsAsync(id))[0];

        Assert.Equal(("fetched", 200), (slot.State(), slot.StatusCode()));
        Assert.Equal(3, slot.Attempts());
        Assert.Equal(3, Upstream.Hits(key).Count);
    }

    [Fact]
    public async Task FlakyUrlStopsAtMaxAttemptsWithTheLastResponse()
    {
        var key = Key();
        var id = await Client.SubmitAsync([Upstream.Url($"/flaky/{key}/5")], new { maxAttempts = 2 });
        var slot = (await Client.ResultsAsync(id))[0];

        Assert.Equal(("fetched", 503), (slot.State(), slot.StatusCode()));
        Assert.Equal(2, slot.Attempts());
        Assert.Equal(2, Upstream.Hits(key).Count);
    }

    [Fact]
    public async Task RetryAfterSecondsIsWaitedBeforeTheNextAttempt()
    {
        var key = Key();
        var id = await Client.SubmitAsync([Upstream.Url($"/retry-after/{key}/1")]);
        var slot = (await Client.ResultsAsync(id))[0];

        Assert.Equal(("fetched", 200), (slot.State(), slot.StatusCode()));
        Assert.Equal(2, slot.Attempts());
        var hits = Upstream.Hits(key);
        // A lower bound only: however slow the machine, the retry cannot come before the upstream allowed it.
        Assert.True(hits[1] - hits[0] >= TimeSpan.FromSeconds(0.95), $"retried after {(hits[1] - hits[0]).TotalMilliseconds} ms");
    }

    [Fact]
    public async Task RetryAfterHttpDateIsWaitedBeforeTheNextAttempt()
    {
        var key = Key();
        var id = await Client.SubmitAsync([Upstream.Url($"/retry-after-date/{key}/2")]);
        var slot = (await Client.ResultsAsync(id))[0];

        Assert.Equal(("fetched", 200), (slot.State(), slot.StatusCode()));
        var hits = Upstream.Hits(key);
        // HTTP dates have one-second resolution, so "2 s from now" may mean a little over 1 s.
        Assert.True(hits[1] - hits[0] >= TimeSpan.FromSeconds(0.9), $"retried after {(hits[1] - hits[0]).TotalMilliseconds} ms");
    }

    [Fact]
    public async Task RetryAfterBeyondTheCapEndsTheSlotWithThe429()
    {
        var key = Key();
        var id = await Client.SubmitAsync([Upstream.Url($"/retry-after/{key}/3600")]);
        var slot = (await Client.ResultsAsync(id, TimeSpan.FromSeconds(20)))[0];

        Assert.Equal(("fetched", 429), (slot.State(), slot.StatusCode()));
        Assert.Equal(1, slot.Attempts());
    }

    [Fact]
    public async Task RedirectsAreCountedAndCappedByMaxRedirects()
    {
        var id = await Client.SubmitAsync([Upstream.Url("/redirect/3"), Upstream.Url("/redirect/4")], new { maxRedirects = 3 });
        var slots = await Client.ResultsAsync(id);

        Assert.Equal(3, slots[0]["response"]!["redirects"]!.GetValue<int>());
        Assert.Equal(("failed", "too_many_redirects"), (slots[1].State(), slots[1].ErrorCode()));
    }

    [Fact]
    public async Task RedirectIsReturnedAsIsWhenFollowRedirectsIsFalse()
    {
        var id = await Client.SubmitAsync([Upstream.Url("/redirect/1")], new { followRedirects = false });
        var slot = (await Client.ResultsAsync(id))[0];

        Assert.Equal(("fetched", 302), (slot.State(), slot.StatusCode()));
        Assert.Equal(0, slot["response"]!["redirects"]!.GetValue<int>());
    }

    [Theory]
    [InlineData("/bytes/200000")]
    [InlineData("/chunked/200000")]
    [InlineData("/gzip/200000")]
    public async Task BodyOverMaxBodyBytesFailsWithBodyTooLarge(string path)
    {
        var id = await Client.SubmitAsync([Upstream.Url(path), Upstream.Url("/bytes/1000")], new { maxBodyBytes = 100_000 });
        var slots = await Client.ResultsAsync(id);

        Assert.Equal(("failed", "body_too_large"), (slots[0].State(), slots[0].ErrorCode()));
        Assert.Equal(1, slots[0].Attempts()); // retrying cannot make the body smaller
        Assert.Equal(("fetched", 200), (slots[1].State(), slots[1].StatusCode()));
    }

    [Fact]
    public async Task GzipBodyIsCountedAndHashedAfterDecompression()
    {
        var id = await Client.SubmitAsync([Upstream.Url("/gzip/300000")]);
        var response = (await Client.ResultsAsync(id))[0]["response"]!;

        Assert.Equal(300_000, response["contentLength"]!.GetValue<long>());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(new string('a', 300_000)))),
            response["sha256"]!.GetValue<string>());
    }

    [Fact]
    public async Task UpstreamThatNeverAnswersTimesOutOnEveryAttempt()
    {
        var id = await Client.SubmitAsync([Upstream.Url("/hang")], new { timeoutSeconds = 0.5, maxAttempts = 2 });
        var slot = (await Client.ResultsAsync(id))[0];

        Assert.Equal(("failed", "timeout"), (slot.State(), slot.ErrorCode()));
        Assert.Equal(2, slot.Attempts());
        Assert.Contains("attempt 2 of 2", slot["error"]!["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task ConnectionResetMidBodyFailsWithConnectionReset()
    {
        var id = await Client.SubmitAsync([Upstream.Url("/reset")], new { maxAttempts = 1 });
        var slot = (await Client.ResultsAsync(id))[0];

        Assert.Equal("failed", slot.State());
        Assert.Equal("connection_reset", slot.ErrorCode());
    }

    [Fact]
    public async Task UnresolvableHostFailsWithDnsFailure()
    {
        // A name under .invalid: the service answers "no such host" itself (RFC 6761), so no query leaves the machine.
        var id = await Client.SubmitAsync(["http://no-such-host.invalid/"], new { maxAttempts = 1 });
        var slot = (await Client.ResultsAsync(id))[0];

        Assert.Equal(("failed", "dns_failure"), (slot.State(), slot.ErrorCode()));
    }

    [Fact]
    public async Task HeadRequestReadsNoBody()
    {
        var id = await Client.SubmitAsync([Upstream.Url("/ok")], new { method = "HEAD" });
        var response = (await Client.ResultsAsync(id))[0]["response"]!;

        Assert.Equal(200, response["statusCode"]!.GetValue<int>());
        Assert.Equal(0, response["contentLength"]!.GetValue<long>());
    }

    [Fact]
    public async Task IdnHostIsFetchedByItsPunycodeForm()
    {
        // *.localhost names are loopback without DNS, so an IDN name can reach the loopback upstream.
        var url = $"http://b\u00fccher.localhost:{Upstream.BaseAddress.Port}/host";
        var id = await Client.SubmitAsync([url], new { includeBody = true });
        var slot = (await Client.ResultsAsync(id))[0];

        Assert.Equal(("fetched", 200), (slot.State(), slot.StatusCode()));
        Assert.Equal($"xn--bcher-kva.localhost:{Upstream.BaseAddress.Port}", slot["response"]!["body"]!.GetValue<string>());
    }

    [Fact]
    public async Task HeadOfAResourceLargerThanTheCapIsFetched()
    {
        // HEAD declares a length it does not send: there is nothing to cap.
        var id = await Client.SubmitAsync([Upstream.Url("/bytes/5000000")], new { method = "HEAD", maxBodyBytes = 1000 });
        var slot = (await Client.ResultsAsync(id))[0];

        Assert.Equal(("fetched", 200), (slot.State(), slot.StatusCode()));
        Assert.Equal(0, slot["response"]!["contentLength"]!.GetValue<long>());
    }

    [Fact]
    public async Task RetryAfterHoldsTheWholeHostEvenWhenTheSlotDoesNotRetry()
    {
        await using var upstream = await UpstreamServer.StartAsync(); // its own host: the hold must not slow other tests
        var (first, second) = (Key(), Key());
        var id = await Client.SubmitAsync([upstream.Url($"/retry-after/{first}/1"), upstream.Url($"/flaky/{second}/0")],
            new { maxAttempts = 1, concurrency = 1 });
        var slots = await Client.ResultsAsync(id);

        Assert.Equal(("fetched", 429), (slots[0].State(), slots[0].StatusCode()));
        Assert.Equal(("fetched", 200), (slots[1].State(), slots[1].StatusCode()));
        var gap = upstream.Hits(second)[0] - upstream.Hits(first)[0];
        Assert.True(gap >= TimeSpan.FromSeconds(0.95), $"the next request to the host came after {gap.TotalMilliseconds} ms");
    }
}
