using System.Net;
using System.Net.Sockets;
using FetchApi.Security;
using Microsoft.Extensions.Options;

namespace FetchApi.UnitTests.Security;

/// <summary>
/// The address table, through the policy's decision function: no connection is made. Each refused range is tested
/// with an address inside it and one just outside; each attacker spelling with the address it really means.
/// </summary>
public sealed class AddressTableTests
{
    static AddressPolicy Policy(params string[] allowed) => new(Options.Create(new SecurityOptions { AllowedNetworks = [.. allowed] }));

    static readonly AddressPolicy Default = Policy();

    /// <summary>How <paramref name="address"/> is written as the host of a URL.</summary>
    static string UrlHost(IPAddress address) =>
        address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();

    // (address inside a refused range, the range its refusal names)
    public static TheoryData<string, string> RefusedAddresses => new()
    {
        { "0.0.0.0", "0.0.0.0/8" }, { "0.255.255.255", "0.0.0.0/8" },
        { "10.0.0.1", "10.0.0.0/8" }, { "10.255.255.255", "10.0.0.0/8" },
        { "100.64.0.1", "100.64.0.0/10" }, { "100.127.255.255", "100.64.0.0/10" },
        { "127.0.0.1", "127.0.0.0/8" }, { "127.255.255.254", "127.0.0.0/8" },
        { "169.254.169.254", "169.254.0.0/16" }, { "169.254.0.1", "169.254.0.0/16" },
        { "172.16.0.1", "172.16.0.0/12" }, { "172.31.255.255", "172.16.0.0/12" },
        { "192.0.0.1", "192.0.0.0/24" }, { "192.0.0.255", "192.0.0.0/24" },
        { "192.0.2.1", "192.0.2.0/24" },
        { "192.88.99.1", "192.88.99.0/24" },
        { "192.168.0.1", "192.168.0.0/16" }, { "192.168.255.255", "192.168.0.0/16" },
        { "198.18.0.1", "198.18.0.0/15" }, { "198.19.255.255", "198.18.0.0/15" },
        { "198.51.100.1", "198.51.100.0/24" },
        { "203.0.113.1", "203.0.113.0/24" },
        { "224.0.0.1", "224.0.0.0/4" }, { "239.255.255.255", "224.0.0.0/4" },
        { "240.0.0.1", "240.0.0.0/4" }, { "255.255.255.254", "240.0.0.0/4" },
        { "255.255.255.255", "255.255.255.255/32" },
        { "::", "::/128" },
        { "::1", "::1/128" },
        { "64:ff9b:1::1", "64:ff9b:1::/48" },
        { "100::1", "100::/64" },
        { "100:0:0:1::1", "100:0:0:1::/64" },
        { "2001::1", "2001::/23" }, { "2001:1ff:ffff::1", "2001::/23" },
        { "2001:db8::1", "2001:db8::/32" },
        { "3fff::1", "3fff::/20" },
        { "5f00::1", "5f00::/16" },
        { "fc00::1", "fc00::/7" }, { "fdff:ffff::1", "fc00::/7" },
        { "fe80::1", "fe80::/10" }, { "febf:ffff::1", "fe80::/10" },
        { "fec0::1", "fec0::/10" }, { "feff:ffff::1", "fec0::/10" },
        { "ff02::1", "ff00::/8" }, { "ff0e::1", "ff00::/8" },
        // IPv6 forms of refused IPv4 addresses are judged by the IPv4 address they embed.
        { "::ffff:127.0.0.1", "127.0.0.0/8" },
        { "::ffff:169.254.169.254", "169.254.0.0/16" },
        { "::127.0.0.1", "127.0.0.0/8" },
        { "::10.0.0.1", "10.0.0.0/8" },
        { "::ffff:0:192.168.1.1", "192.168.0.0/16" },
        { "64:ff9b::127.0.0.1", "127.0.0.0/8" },
        { "64:ff9b::a9fe:a9fe", "169.254.0.0/16" },
        { "2002:7f00:1::", "127.0.0.0/8" },
        { "2002:a00:1::1", "10.0.0.0/8" },
    };

    // IPv6 outside 2000::/3 that no named range covers: unassigned, so refused as a whole.
    [Theory]
    [InlineData("::2:3:4:5")]
    [InlineData("1::")]
    [InlineData("64:ff9b:2::1")]
    [InlineData("100:0:0:2::1")]
    [InlineData("4000::1")]
    [InlineData("5eff:ffff::1")]
    [InlineData("5f01::1")]
    [InlineData("fbff:ffff::1")]
    [InlineData("fe00::1")]
    public void IPv6OutsideGlobalUnicastIsRefused(string address)
    {
        Assert.Contains("outside 2000::/3", Default.RefusalReason(IPAddress.Parse(address)));
        Assert.Equal(HostVerdict.Refused, Default.Decide($"[{address}]").Verdict);
    }

    // Just outside each range above: globally reachable, so allowed.
    public static TheoryData<string> AllowedAddresses => new()
    {
        "1.0.0.1", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0", "126.255.255.255", "128.0.0.0",
        "169.253.255.255", "169.255.0.0", "172.15.255.255", "172.32.0.0", "191.255.255.255", "192.0.1.0", "192.0.3.0",
        "192.88.98.255", "192.88.100.0", "192.167.255.255", "192.169.0.0", "198.17.255.255", "198.20.0.0",
        "198.51.99.255", "198.51.101.0", "203.0.112.255", "203.0.114.0", "223.255.255.255", "8.8.8.8",
        "2000::1", "2001:200::1", "2001:db9::1", "2001:db7:ffff::1", "3ffe:ffff::1", "3fff:1000::1", "2606:4700::1111",
        "::ffff:8.8.8.8", "::8.8.8.8", "64:ff9b::8.8.8.8", "2002:808:808::1",
    };

    [Theory]
    [MemberData(nameof(RefusedAddresses))]
    public void AddressInARefusedRangeIsRefusedNamingTheRange(string address, string range)
    {
        var ip = IPAddress.Parse(address);

        Assert.False(Default.IsAllowed(ip));
        Assert.Contains($"in {range} (", Default.RefusalReason(ip));
        var decision = Default.Decide(UrlHost(ip));
        Assert.Equal((HostVerdict.Refused, ip), (decision.Verdict, decision.Address));
    }

    [Theory]
    [MemberData(nameof(AllowedAddresses))]
    public void AddressJustOutsideEveryRefusedRangeIsAllowed(string address)
    {
        var ip = IPAddress.Parse(address);

        Assert.True(Default.IsAllowed(ip), Default.RefusalReason(ip));
        var decision = Default.Decide(UrlHost(ip));
        Assert.Equal((HostVerdict.Allowed, ip), (decision.Verdict, decision.Address));
    }

    // (host as typed in a URL, the address it really means)
    public static TheoryData<string, string> LoopbackSpellings => new()
    {
        { "127.1", "127.0.0.1" },
        { "0x7f000001", "127.0.0.1" },
        { "2130706433", "127.0.0.1" },
        { "0177.0.0.1", "127.0.0.1" },
        { "127.000.000.001", "127.0.0.1" },
        { "0x7f.1", "127.0.0.1" },
        { "017700000001", "127.0.0.1" },
        { "127.0.0.1.", "127.0.0.1" },
        { "2130706433.", "127.0.0.1" },
        { "127\u30020\u30020\u30021", "127.0.0.1" }, // ideographic full stops: IDN maps them to '.'
        { "[::ffff:7f00:1]", "::ffff:127.0.0.1" },
        { "[::ffff:127.0.0.1]", "::ffff:127.0.0.1" },
        { "[::127.0.0.1]", "::127.0.0.1" },
        { "[0:0:0:0:0:0:0:1]", "::1" },
        { "[::1%25lo]", "::1" },
        { "[64:ff9b::7f00:1]", "64:ff9b::7f00:1" },
        { "[2002:7f00:1::]", "2002:7f00:1::" },
        { "0.0.0.0", "0.0.0.0" },
        { "0", "0.0.0.0" },
        { "[::]", "::" },
        { "localhost", "127.0.0.1" },
        { "LOCALHOST.", "127.0.0.1" },
        { "LocalHost", "127.0.0.1" },
        { "anything.localhost", "127.0.0.1" },
        { "169.254.169.254", "169.254.169.254" },
        { "0xa9fea9fe", "169.254.169.254" },
        { "[fe80::1%25eth0]", "fe80::1" },
    };

    [Theory]
    [MemberData(nameof(LoopbackSpellings))]
    public void AttackerSpellingIsRefusedAsTheAddressItMeans(string host, string address)
    {
        var decision = Default.Decide(host);

        Assert.Equal(HostVerdict.Refused, decision.Verdict);
        Assert.Equal(IPAddress.Parse(address), decision.Address);
    }

    [Theory]
    [InlineData("example.com")]
    [InlineData("127.0.0.1.nip.io")]
    [InlineData("localhost.example.com")]
    [InlineData("1.2.3.4.5")]
    public void DnsNameIsLeftToTheConnectTimeCheck(string host)
    {
        Assert.Equal(HostVerdict.NeedsDns, Default.Decide(host).Verdict);
    }

    [Theory]
    [InlineData("")]
    [InlineData("evil.com/@127.0.0.1")]
    [InlineData("[::1")]
    public void SomethingThatIsNotAHostIsInvalid(string host)
    {
        Assert.Equal(HostVerdict.Invalid, Default.Decide(host).Verdict);
    }

    [Fact]
    public void AllowedNetworkOpensThatRangeAndNothingElse()
    {
        var policy = Policy("10.0.0.0/8", "fd00::/8");

        Assert.Equal(HostVerdict.Allowed, policy.Decide("10.1.2.3").Verdict);
        Assert.Equal(HostVerdict.Allowed, policy.Decide("0x0a010203").Verdict);
        Assert.Equal(HostVerdict.Allowed, policy.Decide("[::ffff:10.1.2.3]").Verdict);
        Assert.Equal(HostVerdict.Allowed, policy.Decide("[fd12::1]").Verdict);
        Assert.Equal(HostVerdict.Refused, policy.Decide("192.168.0.1").Verdict);
        Assert.Equal(HostVerdict.Refused, policy.Decide("172.16.0.1").Verdict);
        Assert.Equal(HostVerdict.Refused, policy.Decide("[fc00::1]").Verdict);
        Assert.Equal(HostVerdict.Refused, policy.Decide("127.0.0.1").Verdict);
        Assert.Equal(HostVerdict.Refused, policy.Decide("169.254.169.254").Verdict);
    }

    [Fact]
    public void AllowingOneLoopbackAddressLeavesTheRestOfLoopbackRefused()
    {
        var policy = Policy("127.0.0.2/32");

        Assert.Equal(HostVerdict.Allowed, policy.Decide("127.0.0.2").Verdict);
        Assert.Equal(HostVerdict.Allowed, policy.Decide("[::ffff:127.0.0.2]").Verdict);
        Assert.Equal(HostVerdict.Refused, policy.Decide("127.0.0.1").Verdict);
        Assert.Equal(HostVerdict.Refused, policy.Decide("localhost").Verdict);
        Assert.Equal(HostVerdict.Refused, policy.Decide("[::1]").Verdict);
    }

    [Fact]
    public void AllowingLoopbackLetsLocalhostThrough()
    {
        var policy = Policy("127.0.0.0/8");

        Assert.Equal((HostVerdict.Allowed, IPAddress.Loopback), (policy.Decide("localhost").Verdict, policy.Decide("localhost").Address));
        Assert.Equal(HostVerdict.Allowed, policy.Decide("127.1").Verdict);
        Assert.Equal(HostVerdict.Refused, policy.Decide("[::1]").Verdict); // IPv6 loopback is a range of its own
    }

    [Fact]
    public void ConnectTimeHostsAreJudgedAsTheHttpStackHandsThemOver()
    {
        // SocketsHttpHandler passes Uri.IdnHost, bracketed for IPv6, with the zone still percent-encoded.
        Assert.Equal(IPAddress.Parse("::ffff:127.0.0.1"), Default.DecideConnectHost("[::ffff:127.0.0.1]").Address);
        Assert.Equal(IPAddress.IPv6Loopback, Default.DecideConnectHost("[::1%25lo]").Address);
        Assert.Equal(IPAddress.Loopback, Default.DecideConnectHost("localhost.").Address);
        Assert.Equal(IPAddress.Loopback, Default.DecideConnectHost("127.0.0.1.").Address);
        Assert.Equal(HostVerdict.NeedsDns, Default.DecideConnectHost("example.com").Verdict);
    }
}
