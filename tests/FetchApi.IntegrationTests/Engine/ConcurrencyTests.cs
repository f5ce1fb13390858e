using FetchApi.IntegrationTests.Upstream;

namespace FetchApi.IntegrationTests.Engine;

/// <summary>
/// The three limits, proven where they matter: at the upstream, by the most requests it ever had in flight at once.
/// Each test has its own service, since the limits are engine settings.
/// </summary>
public sealed class ConcurrencyTests
{
    static string[] Slow(UpstreamServer upstream, string group, int count) =>
        [.. Enumerable.Range(0, count).Select(i => upstream.Url($"/delay/300?group={group}&i={i}"))];

    [Fact]
    public async Task BatchNeverHasMoreFetchesInFlightThanItsConcurrency()
    {
        await using var upstream = await UpstreamServer.StartAsync();
        await using var factory = new FetchApiFactory(new Dictionary<string, string?>
        {
            ["Engine:GlobalConcurrency"] = "100", ["Engine:PerHostConcurrency"] = "100",
        });
        using var client = factory.CreateClient();

        var id = await client.SubmitAsync(Slow(upstream, "b", 12), new { concurrency = 3 });
        await client.WaitUntilDoneAsync(id);

        Assert.Equal(3, upstream.MaxInFlight("b"));
    }

    [Fact]
    public async Task HostNeverHasMoreFetchesInFlightThanThePerHostLimit()
    {
        await using var first = await UpstreamServer.StartAsync();
        await using var second = await UpstreamServer.StartAsync();
        await using var factory = new FetchApiFactory(new Dictionary<string, string?>
        {
            ["Engine:GlobalConcurrency"] = "100", ["Engine:PerHostConcurrency"] = "4",
        });
        using var client = factory.CreateClient();

        // One batch, two hosts, interleaved: each host is held to 4 while the batch runs 8 at once.
        var urls = Slow(first, "h", 12).Zip(Slow(second, "h", 12)).SelectMany(p => new[] { p.First, p.Second });
        var id = await client.SubmitAsync(urls, new { concurrency = 50 });
        await client.WaitUntilDoneAsync(id);

        Assert.Equal(4, first.MaxInFlight("h"));
        Assert.Equal(4, second.MaxInFlight("h"));
    }

    [Fact]
    public async Task AllBatchesTogetherNeverExceedTheGlobalLimit()
    {
        await using var upstream = await UpstreamServer.StartAsync();
        await using var factory = new FetchApiFactory(new Dictionary<string, string?>
        {
            ["Engine:GlobalConcurrency"] = "5", ["Engine:PerHostConcurrency"] = "100",
        });
        using var client = factory.CreateClient();

        var a = await client.SubmitAsync(Slow(upstream, "g", 15), new { concurrency = 10 });
        var b = await client.SubmitAsync(Slow(upstream, "g", 15), new { concurrency = 10 });
        await client.WaitUntilDoneAsync(a);
        await client.WaitUntilDoneAsync(b);

        Assert.Equal(5, upstream.MaxInFlight("g"));
    }

    [Fact]
    public async Task SmallBatchSubmittedBehindALargeOneFinishesFirst()
    {
        await using var upstream = await UpstreamServer.StartAsync();
        await using var factory = new FetchApiFactory(new Dictionary<string, string?>
        {
            ["Engine:GlobalConcurrency"] = "4", ["Engine:PerHostConcurrency"] = "100",
        });
        using var client = factory.CreateClient();

        // 150 URLs x 100 ms at 4 at a time: about 4 s of work queued ahead of the small batch.
        var large = await client.SubmitAsync(
            Enumerable.Range(0, 150).Select(i => upstream.Url($"/delay/100?i={i}")), new { concurrency = 4 });
        await Api.EventuallyAsync(
            async () => (await client.GetJsonAsync($"/batches/{large}?results=false"))["counts"]!["fetched"]!.GetValue<int>() > 0,
            "the large batch never started");

        var small = await client.SubmitAsync(Enumerable.Range(0, 4).Select(i => upstream.Url($"/delay/100?small={i}")));
        await client.WaitUntilDoneAsync(small);

        // Round-robin across batches: the small one shared the engine instead of queueing behind 4 s of work.
        var largeNow = await client.GetJsonAsync($"/batches/{large}?results=false");
        Assert.Equal("running", largeNow["status"]!.GetValue<string>());
        Assert.True(largeNow["counts"]!["pending"]!.GetValue<int>() > 50, largeNow.ToJsonString());
    }
}
