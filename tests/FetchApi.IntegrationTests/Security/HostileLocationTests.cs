using FetchApi.IntegrationTests.Upstream;

namespace FetchApi.IntegrationTests.Security;

/// <summary>
/// Redirects whose <c>Location</c> an upstream spelled oddly or hostilely: resolved as browsers do, judged as what
/// they mean, and refused as <c>protocol_error</c> (never <c>internal_error</c>) when they cannot be followed. Every
/// target is a loopback address.
/// </summary>
public sealed class HostileLocationTests
{
    static HostileServer Redirector(string[] locations) => HostileServer.Start(
        c => c.WriteAsync(
            $"HTTP/1.1 302 Found\r\nLocation: {locations[int.Parse(c.Target[4..], System.Globalization.CultureInfo.InvariantCulture)]}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        address: "127.0.0.2");

    [Fact]
    public async Task OddSpellingsOfAnAllowedTargetAreFollowedAndUnparseableOnesAreProtocolErrors()
    {
        await using var upstream = await UpstreamServer.StartAsync();
        var p = upstream.BaseAddress.Port;
        string[] followed =
        [
            $"///127.0.0.1:{p}/ok", $"/\\127.0.0.1:{p}/ok", $"http:\\\\127.0.0.1:{p}\\ok", $"http://127.0.0.\t1:{p}/ok",
            $"http://%31%32%37.0.0.1:{p}/ok", $"http://１２７．０．０．１:{p}/ok",
        ];
        string[] refused = [$"http://[::1:{p}/ok", "ftp://127.0.0.1/file", "http:///"];
        await using var redirector = Redirector([.. followed, .. refused]);
        await using var factory = new FetchApiFactory();
        using var client = factory.CreateClient();

        var id = await client.SubmitAsync(Enumerable.Range(0, followed.Length + refused.Length).Select(i => redirector.Url($"/to/{i}")), new { maxAttempts = 1 });
        var slots = await client.ResultsAsync(id);

        Assert.All(slots[..followed.Length], s =>
        {
            Assert.Equal(("fetched", 200), (s.State(), s.StatusCode()));
            Assert.Equal($"http://127.0.0.1:{p}/ok", s["response"]!["finalUrl"]!.GetValue<string>());
        });
        Assert.All(slots[followed.Length..], s => Assert.Equal(("failed", "protocol_error"), (s.State(), s.ErrorCode())));
        Assert.All(slots[followed.Length..], s => Assert.Contains("Location", s["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal));
    }

    [Fact]
    public async Task FullwidthAndEnclosedSpellingsOfARefusedHostAreRefusedAsWhatTheyMean()
    {
        await using var canary = Canary.Start();
        var p = canary.Port;
        string[] locations = [$"http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ:{p}/", $"http://１２７．０．０．１:{p}/", $"http://%31%32%37.0.0.1:{p}/", $"///127.0.0.1:{p}/"];
        await using var redirector = Redirector(locations);
        await using var factory = new FetchApiFactory(new Dictionary<string, string?> { ["Security:AllowedNetworks:0"] = "127.0.0.2/32" });
        using var client = factory.CreateClient();

        var id = await client.SubmitAsync(Enumerable.Range(0, locations.Length).Select(i => redirector.Url($"/to/{i}")));
        var slots = await client.ResultsAsync(id);

        Assert.Equal(0, canary.Connections);
        Assert.All(slots, s => Assert.Equal(("failed", "blocked_address"), (s.State(), s.ErrorCode())));
    }
}
