using FetchApi.IntegrationTests.Upstream;

namespace FetchApi.IntegrationTests.Engine;

/// <summary>
/// Polite fetching against a loopback site that records when each request arrived: per-host rates across batches,
/// robots.txt, the adaptive slow-down and the User-Agent. Only bounds that slowness cannot break are asserted (at most
/// so many requests in any second, at least so long between two): timing figures belong to the benchmark.
/// </summary>
public sealed class PolitenessTests
{
    static Dictionary<string, string?> Settings(params (string Key, string Value)[] settings) =>
        settings.ToDictionary(s => s.Key, s => (string?)s.Value);

    static int BusiestSecond(IEnumerable<DateTimeOffset> arrivals)
    {
        var sorted = arrivals.Order().ToList();
        return sorted.Count == 0 ? 0 : sorted.Max(a => sorted.Count(o => o >= a && o < a + TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public async Task TwoBatchesSharingAHostTogetherStayUnderTheStricterRate()
    {
        await using var service = new ServiceWithUpstream(Settings(("Engine:PerHostRequestsPerSecond", "50")));
        await service.InitializeAsync();
        var (client, upstream) = (service.Client, service.Upstream);

        // One batch asks for 10 per second; the other takes the ceiling (50). While they share the host, 10 holds.
        var strict = await client.SubmitAsync(Enumerable.Range(0, 20).Select(i => upstream.Url($"/ok?strict={i}")), new { perHostRequestsPerSecond = 10 });
        var loose = await client.SubmitAsync(Enumerable.Range(0, 20).Select(i => upstream.Url($"/ok?loose={i}")));
        await client.WaitUntilDoneAsync(strict);
        await client.WaitUntilDoneAsync(loose);

        var arrivals = upstream.Arrivals.Where(a => a.PathAndQuery.StartsWith("/ok?", StringComparison.Ordinal)).ToList();
        Assert.Equal(40, arrivals.Count);
        // 10 per second, one token: at most 11 starts in any second, 12 with scheduling jitter between start and arrival.
        Assert.InRange(BusiestSecond(arrivals.Select(a => a.At)), 1, 12);
        var strictOnes = arrivals.Where(a => a.PathAndQuery.Contains("strict", StringComparison.Ordinal)).Select(a => a.At).Order().ToList();
        Assert.True(strictOnes[^1] - strictOnes[0] >= TimeSpan.FromSeconds(1.5), "20 requests at 10 per second cannot take less than 1.9 s");
    }

    [Fact]
    public async Task DisallowedPathsAreNeverRequestedAndRobotsTxtIsFetchedOnceForManyBatches()
    {
        await using var service = new ServiceWithUpstream();
        await service.InitializeAsync();
        var (client, upstream) = (service.Client, service.Upstream);
        upstream.Robots = (200, "User-agent: *\nDisallow: /private\nAllow: /private/open\n\nUser-agent: FetchApi\nDisallow: /status/\n");

        var slots = new List<System.Text.Json.Nodes.JsonObject>();
        for (var b = 0; b < 3; b++)
        {
            var id = await client.SubmitAsync(
                [upstream.Url($"/ok?b={b}"), upstream.Url($"/status/200?b={b}"), upstream.Url($"/private?b={b}")], new { respectRobotsTxt = true });
            slots.AddRange(await client.ResultsAsync(id));
        }

        Assert.Equal(1, upstream.Arrivals.Count(a => a.PathAndQuery == "/robots.txt"));
        Assert.DoesNotContain(upstream.Arrivals, a => a.PathAndQuery.StartsWith("/status/", StringComparison.Ordinal));
        Assert.Equal(3, upstream.Arrivals.Count(a => a.PathAndQuery.StartsWith("/private", StringComparison.Ordinal)));
        Assert.Equal(6, slots.Count(s => s.State() == "fetched"));
        // Our group (FetchApi) applies, not the * group: /private is allowed for us, /status/ is not.
        Assert.All(slots.Where(s => s["url"]!.GetValue<string>().Contains("/status/", StringComparison.Ordinal)),
            s => Assert.Equal(("failed", "robots_disallowed", 1), (s.State(), s.ErrorCode(), s.Attempts())));
        Assert.All(slots.Where(s => s["url"]!.GetValue<string>().Contains("/private", StringComparison.Ordinal)),
            s => Assert.Equal("fetched", s.State()));
    }

    [Theory]
    [InlineData(404, "fetched")]
    [InlineData(410, "fetched")]
    [InlineData(500, "failed")]
    [InlineData(503, "failed")]
    public async Task A4xxRobotsTxtAllowsEverythingAndA5xxDisallowsEverything(int status, string state)
    {
        await using var service = new ServiceWithUpstream();
        await service.InitializeAsync();
        service.Upstream.Robots = (status, "User-agent: *\nDisallow: /\n");

        var id = await service.Client.SubmitAsync([service.Upstream.Url("/ok")], new { respectRobotsTxt = true, maxAttempts = 1 });
        var slot = (await service.Client.ResultsAsync(id)).Single();

        Assert.Equal(state, slot.State());
        Assert.Equal(state == "failed" ? "robots_disallowed" : null, slot.ErrorCode());
        Assert.Equal(state == "fetched" ? 1 : 0, service.Upstream.Arrivals.Count(a => a.PathAndQuery == "/ok"));
    }

    [Fact]
    public async Task AnUnreachableRobotsTxtDisallowsAndWithoutRespectNoRobotsTxtIsAsked()
    {
        await using var service = new ServiceWithUpstream();
        await service.InitializeAsync();
        var closed = $"http://127.0.0.1:{UpstreamServer.ClosedPort()}/page";

        var respecting = await service.Client.SubmitAsync([closed], new { respectRobotsTxt = true, maxAttempts = 1 });
        var ignoring = await service.Client.SubmitAsync([service.Upstream.Url("/ok")]);

        Assert.Equal("robots_disallowed", (await service.Client.ResultsAsync(respecting)).Single().ErrorCode());
        Assert.Equal("fetched", (await service.Client.ResultsAsync(ignoring)).Single().State());
        Assert.DoesNotContain(service.Upstream.Arrivals, a => a.PathAndQuery == "/robots.txt");
    }

    [Fact]
    public async Task CrawlDelaySpacesTheHostsRequests()
    {
        await using var service = new ServiceWithUpstream();
        await service.InitializeAsync();
        service.Upstream.Robots = (200, "User-agent: *\nCrawl-delay: 0.25\n");

        var id = await service.Client.SubmitAsync(Enumerable.Range(0, 5).Select(i => service.Upstream.Url($"/ok?i={i}")), new { respectRobotsTxt = true });
        await service.Client.WaitUntilDoneAsync(id);

        var pages = service.Upstream.Arrivals.Where(a => a.PathAndQuery.StartsWith("/ok", StringComparison.Ordinal)).Select(a => a.At).Order().ToList();
        Assert.Equal(5, pages.Count);
        Assert.True(pages[^1] - pages[0] >= TimeSpan.FromSeconds(0.9), $"5 requests 0.25 s apart took {pages[^1] - pages[0]}");
    }

    [Fact]
    public async Task AHostThatPushesBackIsSlowedDown()
    {
        await using var service = new ServiceWithUpstream();
        await service.InitializeAsync();

        // Three 429s without Retry-After in a row: the pause after each grows to 100, 200 then 400 ms.
        var id = await service.Client.SubmitAsync([service.Upstream.Url("/throttle/a/3")], new { maxAttempts = 4 });
        var slot = (await service.Client.ResultsAsync(id)).Single();

        Assert.Equal(200, slot.StatusCode());
        var tries = service.Upstream.Arrivals.Where(a => a.PathAndQuery == "/throttle/a/3").Select(a => a.At).ToList();
        Assert.Equal(4, tries.Count);
        // Arrivals are stamped with the wall clock, the pauses run on the monotonic timer clock, and NTP slews the wall
        // clock by up to 0.05 % (0.2 ms in 400 ms, seen here): a gap may read a hair shorter than the pause it was.
        var slew = TimeSpan.FromMilliseconds(2);
        Assert.True(tries[1] - tries[0] >= TimeSpan.FromMilliseconds(100) - slew, $"the first gap was {tries[1] - tries[0]}");
        Assert.True(tries[3] - tries[2] >= TimeSpan.FromMilliseconds(400) - slew, $"the last gap was {tries[3] - tries[2]}");
    }

    [Fact]
    public async Task EveryRequestCarriesTheUserAgentRobotsTxtIncludedUnlessTheBatchSetsItsOwn()
    {
        await using var service = new ServiceWithUpstream(Settings(("Engine:UserAgent", "ExampleBot/3.1 (+https://ops.example/bot)")));
        await service.InitializeAsync();
        service.Upstream.Robots = (200, "User-agent: examplebot\nDisallow: /status/\n");

        var id = await service.Client.SubmitAsync([service.Upstream.Url("/ok?ours"), service.Upstream.Url("/status/200")], new { respectRobotsTxt = true });
        var own = await service.Client.SubmitAsync([service.Upstream.Url("/ok?theirs")], new { headers = new Dictionary<string, string> { ["User-Agent"] = "Mine/1.0" } });
        var slots = await service.Client.ResultsAsync(id);
        await service.Client.WaitUntilDoneAsync(own);

        Assert.Equal("robots_disallowed", slots[1].ErrorCode());
        Assert.Equal("ExampleBot/3.1 (+https://ops.example/bot)", service.Upstream.Arrivals.Single(a => a.PathAndQuery == "/robots.txt").UserAgent);
        Assert.Equal("ExampleBot/3.1 (+https://ops.example/bot)", service.Upstream.Arrivals.Single(a => a.PathAndQuery == "/ok?ours").UserAgent);
        Assert.Equal("Mine/1.0", service.Upstream.Arrivals.Single(a => a.PathAndQuery == "/ok?theirs").UserAgent);
    }
}
