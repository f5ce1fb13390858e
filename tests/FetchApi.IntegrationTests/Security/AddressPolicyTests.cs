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
        await using var upstream = await UpstreamServer.StartAsync();
        await using var factory = new FetchApiFactory(new Dictionary<string, string?> { ["Security:AllowedNetworks:0"] = "127.0.0.1/32" });
        using var client = factory.CreateClient();

        var id = await client.SubmitAsync([upstream.Url("/ok"), "http://10.1.2.3/", "http://169.254.169.254/latest/meta-data/"]);
        var slots = await client.ResultsAsync(id);

        Assert.Equal(("fetched", 200), (slots[0].State(), slots[0].StatusCode()));
        Assert.Equal("blocked_address", slots[1].ErrorCode());
        Assert.Equal("blocked_address", slots[2].ErrorCode());
    }
}
