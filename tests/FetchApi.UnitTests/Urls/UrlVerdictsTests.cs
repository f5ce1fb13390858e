using System.Net;
using System.Net.Sockets;
using FetchApi.Security;
using FetchApi.Urls;
using Microsoft.Extensions.Options;

namespace FetchApi.UnitTests.Urls;

/// <summary>
/// Verdicts, reasons and duplicates, through the pure decision: no socket, no DNS. The private and link-local URLs here
/// are strings to judge; none is fetched, resolved or submitted to a running service (network rule).
/// </summary>
public sealed class UrlVerdictsTests
{
    const int MaxLength = 8192;

    static UrlVerdicts Verdicts(string[]? allowed = null, string[]? denied = null) =>
        new(new AddressPolicy(Options.Create(new SecurityOptions { AllowedNetworks = [.. allowed ?? []], DeniedNetworks = [.. denied ?? []] })));

    static readonly UrlVerdicts Default = Verdicts();

    static UrlCheck One(string url, UrlVerdicts? verdicts = null) => Assert.Single((verdicts ?? Default).Check([url], MaxLength));

    [Fact]
    public void EveryInputHasOneEntryAtItsIndex()
    {
        string?[] urls = ["https://example.com/", null, "ftp://example.com/", "http://127.0.0.1/", "https://example.com/"];

        var results = Default.Check(urls, MaxLength);

        Assert.Equal([0, 1, 2, 3, 4], results.Select(r => r.Index));
        Assert.Equal(urls, results.Select(r => r.Url));
        Assert.Equal([UrlVerdict.Allowed, UrlVerdict.Invalid, UrlVerdict.Invalid, UrlVerdict.Blocked, UrlVerdict.Allowed], results.Select(r => r.Verdict));
    }

    [Theory]
    [InlineData("ftp://example.com/file", "The URL has scheme 'ftp'; only http and https are fetched.")]
    [InlineData("", "The URL must be an absolute http or https URL; it is empty.")]
    [InlineData("example.com/a", "The URL is not an absolute URL (expected http://host/... or https://host/...), or its host or port is invalid.")]
    [InlineData("http://user:pw@example.com/", "The URL must not contain user-info (user:password@); send credentials in options.headers instead.")]
    [InlineData("http://example.com/a b", "The URL must not contain spaces or control characters (CR, LF, NUL, ...); percent-encode them.")]
    public void InvalidUrlNamesTheRuleOfTheBatchValidator(string url, string reason)
    {
        var check = One(url);

        Assert.Equal((UrlVerdict.Invalid, reason), (check.Verdict, check.Reason));
        Assert.Null(check.Normalized);
        Assert.Null(check.Host);
        Assert.Null(check.Port);
        Assert.Null(check.DuplicateOf);
    }

    [Fact]
    public void TooLongUrlIsInvalidWithBothLengths()
    {
        var check = Assert.Single(Default.Check(["http://example.com/" + new string('a', 20)], maxUrlLength: 32));

        Assert.Equal("The URL is 39 characters long; at most 32 are allowed.", check.Reason);
    }

    [Fact]
    public void DuplicatesPointAtTheFirstUrlWithTheSameNormalizedForm()
    {
        string[] urls =
        [
            "https://example.com/a/../b", "ftp://example.com/b", "HTTPS://EXAMPLE.COM:443/b", "https://example.com/b#top",
            "https://example.com/c", "https://example.com/a/../b",
        ];

        var results = Default.Check(urls, MaxLength);

        Assert.Equal([null, null, 0, 0, null, 0], results.Select(r => r.DuplicateOf));
        Assert.Equal("https://example.com/b", results[3].Normalized);
    }

    [Fact]
    public void DifferentRequestsAreNotDuplicates()
    {
        // Another query, another port, a trailing dot (another Host header): the engine makes another request.
        string[] urls = ["https://example.com/b", "https://example.com/b?", "https://example.com:8443/b", "https://example.com./b", "http://example.com/b"];

        Assert.All(Default.Check(urls, MaxLength), r => Assert.Null(r.DuplicateOf));
    }

    // (URL, reason) as the default policy judges it
    [Theory]
    [InlineData("http://127.0.0.1/", "127.0.0.1 is in 127.0.0.0/8 (loopback)")]
    [InlineData("http://0x7f000001:8080/", "127.0.0.1 is in 127.0.0.0/8 (loopback)")]
    [InlineData("http://[::1]/", "::1 is in ::1/128 (loopback)")]
    [InlineData("http://[::ffff:7f00:1]/", "::ffff:127.0.0.1 is the IPv4-mapped form of 127.0.0.1, in 127.0.0.0/8 (loopback)")]
    [InlineData("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is in 169.254.0.0/16 (link-local, where cloud metadata lives)")]
    [InlineData("http://10.1.2.3/", "10.1.2.3 is in 10.0.0.0/8 (private)")]
    [InlineData("http://[fd00::1]/", "fd00::1 is in fc00::/7 (unique local)")]
    public void RefusedLiteralAddressIsBlockedNamingTheAddressAndTheRange(string url, string reason)
    {
        var check = One(url);

        Assert.Equal((UrlVerdict.Blocked, reason), (check.Verdict, check.Reason));
        Assert.Single(check.Addresses!);
    }

    [Theory]
    [InlineData("http://localhost/")]
    [InlineData("http://LOCALHOST./")]
    [InlineData("http://api.localhost:8080/")]
    public void LocalhostNamesAreLoopbackWithoutDns(string url)
    {
        var check = One(url);

        Assert.Equal(UrlVerdict.Blocked, check.Verdict);
        Assert.Equal("localhost names always mean loopback (RFC 6761) and are never looked up: 127.0.0.1 is in 127.0.0.0/8 (loopback)", check.Reason);
        Assert.Equal(["127.0.0.1"], check.Addresses);
    }

    [Fact]
    public void PublicLiteralAddressIsAllowed()
    {
        var check = One("https://93.184.215.14/");

        Assert.Equal((UrlVerdict.Allowed, "93.184.215.14 is in no refused range"), (check.Verdict, check.Reason));
        Assert.Equal(("93.184.215.14", 443), (check.Host, check.Port));
    }

    [Fact]
    public void RangeOpenedByConfigurationIsAllowedSayingSo()
    {
        var check = One("http://127.0.0.1:5000/", Verdicts(allowed: ["127.0.0.0/8"]));

        Assert.Equal(UrlVerdict.Allowed, check.Verdict);
        Assert.Equal("127.0.0.1 is in 127.0.0.0/8 (loopback), opened by Security:AllowedNetworks (127.0.0.0/8)", check.Reason);
    }

    [Fact]
    public void DeniedNetworksBlockWhatTheTableAllows()
    {
        var check = One("https://93.184.215.14/", Verdicts(denied: ["0.0.0.0/0", "::/0"]));

        Assert.Equal((UrlVerdict.Blocked, "93.184.215.14 is in 0.0.0.0/0 (Security:DeniedNetworks)"), (check.Verdict, check.Reason));
    }

    [Fact]
    public void NameIsAllowedUntilResolvedAndSaysHowToResolveIt()
    {
        var check = One("https://B\u00fccher.example/");

        Assert.Equal(UrlVerdict.Allowed, check.Verdict);
        Assert.Equal("xn--bcher-kva.example", check.Host);
        Assert.Null(check.Addresses);
        Assert.True(UrlVerdicts.NeedsDns(check));
        Assert.Contains("resolve: true", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void NameResolvingToAnyRefusedAddressIsBlockedAsAtConnectTime()
    {
        var check = One("https://example.test/");

        var resolved = Default.Resolved(check, new HostResolution([IPAddress.Parse("93.184.215.14"), IPAddress.Parse("10.0.0.5")], null));

        Assert.Equal(UrlVerdict.Blocked, resolved.Verdict);
        Assert.Equal("example.test resolves to 93.184.215.14, 10.0.0.5; 10.0.0.5 is in 10.0.0.0/8 (private)", resolved.Reason);
        Assert.Equal(["93.184.215.14", "10.0.0.5"], resolved.Addresses);
        Assert.False(UrlVerdicts.NeedsDns(resolved));
    }

    [Fact]
    public void NameResolvingOnlyToPublicAddressesIsAllowed()
    {
        var check = One("https://example.test/");

        var resolved = Default.Resolved(check, new HostResolution([IPAddress.Parse("93.184.215.14"), IPAddress.Parse("2606:2800:21f:cb07:6820:80da:af6b:8b2c")], null));

        Assert.Equal(UrlVerdict.Allowed, resolved.Verdict);
        Assert.Equal("example.test resolves to 93.184.215.14, 2606:2800:21f:cb07:6820:80da:af6b:8b2c, none of them in a refused range", resolved.Reason);
    }

    [Fact]
    public void NameResolvingIntoAnOpenedRangeSaysWhichRangeOpensIt()
    {
        var verdicts = Verdicts(allowed: ["10.0.0.0/8"]);
        var check = One("https://intranet.test/", verdicts);

        var resolved = verdicts.Resolved(check, new HostResolution([IPAddress.Parse("10.0.0.5")], null));

        Assert.Equal(UrlVerdict.Allowed, resolved.Verdict);
        Assert.Equal("intranet.test resolves to 10.0.0.5; 10.0.0.5 is in 10.0.0.0/8 (private), opened by Security:AllowedNetworks (10.0.0.0/8)", resolved.Reason);
    }

    [Fact]
    public void NameThatDoesNotResolveIsNotRefusedButSaysTheFetchWouldFail()
    {
        var check = One("https://nowhere.test/");

        var resolved = Default.Resolved(check, new HostResolution([], "no such host"));

        Assert.Equal(UrlVerdict.Allowed, resolved.Verdict);
        Assert.StartsWith("nowhere.test did not resolve (no such host)", resolved.Reason, StringComparison.Ordinal);
        Assert.Contains("dns_failure", resolved.Reason, StringComparison.Ordinal);
        Assert.Empty(resolved.Addresses!);
    }

    [Fact]
    public void VerdictsAgreeWithTheConnectTimeDecision()
    {
        // The check must never say "allowed" for an address the connect callback refuses, whatever its spelling.
        var policy = new AddressPolicy(Options.Create(new SecurityOptions()));
        string[] hosts = ["127.0.0.1", "0x7f000001", "[::ffff:7f00:1]", "[::1]", "localhost", "169.254.169.254", "[64:ff9b::a00:1]", "93.184.215.14"];
        foreach (var host in hosts)
        {
            var check = One($"http://{host}/");
            var connect = policy.DecideConnectHost(check.Host!);
            Assert.Equal(connect.Verdict == HostVerdict.Refused, check.Verdict == UrlVerdict.Blocked);
            Assert.Equal(connect.Address!.AddressFamily == AddressFamily.InterNetworkV6, check.Addresses![0].Contains(':', StringComparison.Ordinal));
        }
    }
}
