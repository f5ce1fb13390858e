using System.Net.Sockets;
using FetchApi.Security;

namespace FetchApi.UnitTests.Security;

/// <summary>
/// Names under <c>invalid</c> (RFC 6761 §6.4) are answered "no such host" without a DNS query. Only those names are
/// resolved here: any other would send a query off the machine.
/// </summary>
public sealed class InvalidNamesTests
{
    [Theory]
    [InlineData("invalid")]
    [InlineData("no-such-host.invalid")]
    [InlineData("a.b.INVALID")]
    [InlineData("host.invalid.")]
    [InlineData("xn--bcher-kva.invalid")]
    public async Task ANameUnderInvalidIsNotFoundWithoutAQuery(string host)
    {
        Assert.True(AddressPolicy.IsInvalidName(host));
        var failure = await Assert.ThrowsAsync<SocketException>(() => AddressPolicy.ResolveAsync(host, TestContext.Current.CancellationToken));
        Assert.Equal(SocketError.HostNotFound, failure.SocketErrorCode);
    }

    [Theory]
    [InlineData("invalid.example")]
    [InlineData("notinvalid")]
    [InlineData("host.invalidx")]
    [InlineData("invalid..")]
    [InlineData("localhost")]
    public void ANameThatOnlyLooksLikeItIsLeftToDns(string host)
    {
        Assert.False(AddressPolicy.IsInvalidName(host));
    }
}
