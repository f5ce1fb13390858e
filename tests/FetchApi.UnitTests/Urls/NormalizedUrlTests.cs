using FetchApi.Urls;

namespace FetchApi.UnitTests.Urls;

/// <summary>The URL as the engine requests it: what System.Uri and the HTTP handler make of a URL, put back together.</summary>
public sealed class NormalizedUrlTests
{
    [Theory]
    [InlineData("http://example.com/", "http://example.com/")]
    [InlineData("HTTP://Example.COM/Path/Kept?Q=Kept", "http://example.com/Path/Kept?Q=Kept")]
    [InlineData("http://example.com", "http://example.com/")]
    [InlineData("http://example.com:80/a", "http://example.com/a")]
    [InlineData("https://example.com:443/a", "https://example.com/a")]
    [InlineData("https://example.com:0443/", "https://example.com/")]
    [InlineData("https://example.com:80/", "https://example.com:80/")]
    [InlineData("http://example.com:8080/", "http://example.com:8080/")]
    [InlineData("http://example.com/a/./b/../c", "http://example.com/a/c")]
    [InlineData("http://example.com/a/%2e%2e/b", "http://example.com/b")]
    [InlineData("http://example.com/a/b/../../../..", "http://example.com/")]
    [InlineData("http://example.com/a?b=1#fragment", "http://example.com/a?b=1")]
    [InlineData("http://example.com/%7Euser/%41", "http://example.com/~user/A")]
    [InlineData("http://example.com/a%2fb", "http://example.com/a%2fb")]
    [InlineData("http://example.com/stra\u00dfe?q=\u00e4", "http://example.com/stra%C3%9Fe?q=%C3%A4")]
    [InlineData("http://B\u00fccher.example/", "http://xn--bcher-kva.example/")]
    [InlineData("http://xn--bcher-kva.example/", "http://xn--bcher-kva.example/")]
    [InlineData("http://0x7f000001/", "http://127.0.0.1/")]
    [InlineData("http://2130706433/", "http://127.0.0.1/")]
    [InlineData("http://0177.0.0.1/", "http://127.0.0.1/")]
    [InlineData("http://127.1:8080/x", "http://127.0.0.1:8080/x")]
    [InlineData("http://[::FFFF:7f00:1]/", "http://[::ffff:127.0.0.1]/")]
    [InlineData("http://[2001:DB8:0:0::1]:80/", "http://[2001:db8::1]/")]
    [InlineData("http://LOCALHOST./", "http://localhost./")]
    public void UrlIsNormalizedAsTheEngineRequestsIt(string url, string expected)
    {
        Assert.Equal(expected, NormalizedUrl.Parse(url)?.Value);
    }

    [Theory]
    [InlineData("https://Example.com/", "example.com", 443, false)]
    [InlineData("http://example.com:8080/", "example.com", 8080, false)]
    [InlineData("http://b\u00fccher.example/", "xn--bcher-kva.example", 80, false)]
    [InlineData("http://0x7f000001/", "127.0.0.1", 80, true)]
    [InlineData("https://[::1]:8443/", "::1", 8443, true)]
    public void HostAndPortAreWhatTheEngineConnectsTo(string url, string host, int port, bool isAddress)
    {
        var normalized = NormalizedUrl.Parse(url)!;

        Assert.Equal((host, port, isAddress), (normalized.Host, normalized.Port, normalized.HostIsAddress));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("/relative")]
    [InlineData("http://example.com:99999/")]
    [InlineData("ftp://example.com/")]
    [InlineData("file:///etc/passwd")]
    public void WhatTheEngineWouldNotRequestHasNoNormalizedForm(string? url)
    {
        Assert.Null(NormalizedUrl.Parse(url));
    }
}
