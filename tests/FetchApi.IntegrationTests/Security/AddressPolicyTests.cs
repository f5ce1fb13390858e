using FetchApi.IntegrationTests.Upstream;

namespace FetchApi.IntegrationTests.Security;

public sealed class AddressPolicyTests
{
    [Fact]
    public async Task LoopbackIsRefusedByDefaultAndNoConnectionIsMade()
    {
        await using var upstream = await UpstreamServer.StartAsync();
        // No Security:AllowedNetworks: the shipped default.
        await using var factory = new FetchApiFactory(new Dictionary<string, string?> { ["Security:AllowedNetworks:0"] = null });
        using var client = factory.CreateClient();
        var port = upstream.BaseAddress.Port;

        var id = await client.SubmitAsync([upstream.Url("/ok"), $"http://localhost:{port}/ok", $"http://[::1]:{port}/ok", $"http://127.1:{port}/ok"]);
        var slots = await client.ResultsAsync(id);

        Assert.All(slots, s => Assert.Equal(("failed", "blocked_address"), (s.State(), s.ErrorCode())));
        Assert.All(slots, s => Assert.Equal(1, s.Attempts())); // a refusal is final, not retried
        Assert.Contains("127.0.0.1", slots[0]["error"]!["message"]!.GetValue<string>());
        Assert.Equal(0, upstream.Requests);
    }

    [Fact]
    public async Task AllowedNetworkOpensOnlyThatRange()
    {
        // Loopback only: a policy bug must not turn this test into traffic off the machine. Private and metadata
        // addresses are covered through the decision function in FetchApi.UnitTests (Security/AddressTableTests).
        await using var allowed = await UpstreamServer.StartAsync("127.0.0.1");
        await using var refused = await UpstreamServer.StartAsync("127.0.0.2");
        await using var factory = new FetchApiFactory(new Dictionary<string, string?> { ["Security:AllowedNetworks:0"] = "127.0.0.1/32" });
        using var client = factory.CreateClient();

        var id = await client.SubmitAsync([allowed.Url("/ok"), refused.Url("/ok"), $"http://[::1]:{allowed.BaseAddress.Port}/ok"]);
        var slots = await client.ResultsAsync(id);

        Assert.Equal(("fetched", 200), (slots[0].State(), slots[0].StatusCode()));
        Assert.Equal("blocked_address", slots[1].ErrorCode());
        Assert.Contains("127.0.0.2", slots[1]["error"]!["message"]!.GetValue<string>());
        Assert.Equal("blocked_address", slots[2].ErrorCode());
        Assert.Equal(0, refused.Requests);
    }

    [Fact]
    public async Task LoopbackSpellingsNeverReachTheCanaryAndEachSlotNamesTheAddress()
    {
        await using var canary = Canary.Start();
        await using var factory = new FetchApiFactory(new Dictionary<string, string?> { ["Security:AllowedNetworks:0"] = null });
        using var client = factory.CreateClient();
        var p = canary.Port;
        // (URL, what its error message must name)
        (string Url, string Names)[] cases =
        [
            ($"http://127.0.0.1:{p}/", "127.0.0.1 is in 127.0.0.0/8"),
            ($"http://127.1:{p}/", "127.0.0.1 is in 127.0.0.0/8"),
            ($"http://0x7f000001:{p}/", "127.0.0.1 is in 127.0.0.0/8"),
            ($"http://2130706433:{p}/", "127.0.0.1 is in 127.0.0.0/8"),
            ($"http://0177.0.0.1:{p}/", "127.0.0.1 is in 127.0.0.0/8"),
            ($"http://127.000.000.001:{p}/", "127.0.0.1 is in 127.0.0.0/8"),
            ($"http://127.0.0.1.:{p}/", "127.0.0.1 is in 127.0.0.0/8"),
            ($"http://127\u30020\u30020\u30021:{p}/", "127.0.0.1 is in 127.0.0.0/8"),
            ($"http://[::ffff:7f00:1]:{p}/", "::ffff:127.0.0.1 is the IPv4-mapped form of 127.0.0.1"),
            ($"http://[::ffff:127.0.0.1]:{p}/", "::ffff:127.0.0.1 is the IPv4-mapped form of 127.0.0.1"),
            ($"http://[::127.0.0.1]:{p}/", "::127.0.0.1 is the IPv4-compatible form of 127.0.0.1"),
            ($"http://[::1]:{p}/", "::1 is in ::1/128"),
            // 0.0.0.0 and :: are judged in the unit tests (AddressTableTests) only: they are not loopback addresses, and
            // no test hands a running service a URL outside 127.0.0.0/8 and ::1.
            ($"http://localhost:{p}/", "localhost resolves to 127.0.0.1"),
            ($"http://LOCALHOST.:{p}/", "localhost. resolves to 127.0.0.1"),
            ($"http://canary.localhost:{p}/", "canary.localhost resolves to 127.0.0.1"),
        ];

        var id = await client.SubmitAsync(cases.Select(c => c.Url));
        var slots = await client.ResultsAsync(id);

        Assert.Equal(0, canary.Connections);
        for (var i = 0; i < cases.Length; i++)
        {
            Assert.Equal(("failed", "blocked_address", 1), (slots[i].State(), slots[i].ErrorCode(), slots[i].Attempts()));
            Assert.Contains(cases[i].Names, slots[i]["error"]!["message"]!.GetValue<string>());
        }
    }

    [Fact]
    public async Task RedirectFromAnAllowedAddressToARefusedOneIsBlockedBeforeConnecting()
    {
        await using var canary = Canary.Start();
        var p = canary.Port;
        string[] targets =
        [
            $"http://127.0.0.1:{p}/", $"http://localhost:{p}/", $"http://[::ffff:127.0.0.1]:{p}/", $"http://2130706433:{p}/",
            $"http://127.1:{p}/", $"http://[::1]:{p}/",
        ];
        // /to/N redirects to targets[N]; /hop/N first redirects on the same allowed host, then to targets[N].
        await using var redirector = HostileServer.Start(
            c => c.WriteAsync(c.Target.StartsWith("/hop/", StringComparison.Ordinal)
                ? $"HTTP/1.1 302 Found\r\nLocation: /to/{c.Target[5..]}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                : $"HTTP/1.1 307 Temporary Redirect\r\nLocation: {targets[int.Parse(c.Target[4..], System.Globalization.CultureInfo.InvariantCulture)]}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
            address: "127.0.0.2");
        await using var upstream = await UpstreamServer.StartAsync("127.0.0.2");
        await using var factory = new FetchApiFactory(new Dictionary<string, string?> { ["Security:AllowedNetworks:0"] = "127.0.0.2/32" });
        using var client = factory.CreateClient();
        var urls = targets.Select((_, i) => redirector.Url($"/to/{i}"))
            .Append(redirector.Url("/hop/0"))
            .Append(upstream.Url("/ok"))
            .ToList();

        var id = await client.SubmitAsync(urls);
        var slots = await client.ResultsAsync(id);

        Assert.Equal(0, canary.Connections);
        Assert.All(slots[..^1], s => Assert.Equal(("failed", "blocked_address", 1), (s.State(), s.ErrorCode(), s.Attempts())));
        Assert.Contains("127.0.0.1", slots[0]["error"]!["message"]!.GetValue<string>());
        Assert.True(redirector.Connections >= targets.Length + 2, $"the redirector saw {redirector.Connections} connections");
        Assert.Equal(("fetched", 200), (slots[^1].State(), slots[^1].StatusCode())); // 127.0.0.2 itself is open
    }
}
