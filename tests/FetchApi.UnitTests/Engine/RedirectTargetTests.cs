using FetchApi.Engine;
using FetchApi.Model;

namespace FetchApi.UnitTests.Engine;

/// <summary>Hostile and odd <c>Location</c> values resolved as browsers resolve them, or refused as protocol errors.</summary>
public sealed class RedirectTargetTests
{
    static readonly Uri Current = new("http://127.0.0.2:8080/a/b?q=1");

    [Theory]
    [InlineData("http://127.0.0.1:9000/x", "http://127.0.0.1:9000/x")]
    [InlineData("/x", "http://127.0.0.2:8080/x")]
    [InlineData("x", "http://127.0.0.2:8080/a/x")]
    [InlineData("../x", "http://127.0.0.2:8080/x")]
    [InlineData("?p=2", "http://127.0.0.2:8080/a/b?p=2")]
    [InlineData("//127.0.0.1:9000/x", "http://127.0.0.1:9000/x")]
    [InlineData("///127.0.0.1:9000/x", "http://127.0.0.1:9000/x")]
    [InlineData("/\\127.0.0.1:9000/x", "http://127.0.0.1:9000/x")]
    [InlineData("\\\\127.0.0.1:9000/x", "http://127.0.0.1:9000/x")]
    [InlineData("http:\\\\127.0.0.1:9000\\x", "http://127.0.0.1:9000/x")]
    [InlineData("http:/x", "http://127.0.0.2:8080/x")]
    [InlineData("https:/127.0.0.1:9000/x", "https://127.0.0.1:9000/x")]
    [InlineData("HTTP://127.0.0.1:9000/x", "http://127.0.0.1:9000/x")]
    [InlineData("http://127.0.0.1:9000\\@evil/x", "http://127.0.0.1:9000/@evil/x")]
    [InlineData("http://127.0.\t0.1:9000/x", "http://127.0.0.1:9000/x")]
    [InlineData("  http://127.0.0.1:9000/x\n", "http://127.0.0.1:9000/x")]
    [InlineData("http://%31%32%37.0.0.1:9000/x", "http://127.0.0.1:9000/x")]
    [InlineData("http://１２７．０．０．１:9000/x", "http://127.0.0.1:9000/x")]
    [InlineData("http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ:9000/x", "http://localhost:9000/x")]
    [InlineData("http://LOCALHOST:9000/x", "http://localhost:9000/x")]
    [InlineData("http://bücher.example/x", "http://xn--bcher-kva.example/x")]
    [InlineData("http://[::1]:9000/x", "http://[::1]:9000/x")]
    [InlineData("http://user@127.0.0.1:9000/x", "http://user@127.0.0.1:9000/x")]
    public void ALocationResolvesAsABrowserResolvesIt(string location, string expected)
    {
        Assert.Equal(expected, RedirectTarget.Resolve(Current, location).AbsoluteUri);
    }

    [Theory]
    [InlineData("ftp://127.0.0.1/file", "ftp:")]
    [InlineData("javascript:alert(1)", "javascript:")]
    [InlineData("http://[::1", "not a valid URL")]
    [InlineData("http://", "no host")]
    [InlineData("http:///", "no host")]
    [InlineData("http://exa mple/", "not a valid")]
    public void WhatCannotBeFollowedIsAProtocolErrorNamingTheValue(string location, string why)
    {
        var failure = Assert.Throws<FetchFailureException>(() => RedirectTarget.Resolve(Current, location));

        Assert.Equal(FetchErrorCode.ProtocolError, failure.Code);
        Assert.Contains(why, failure.Message, StringComparison.Ordinal);
        Assert.Contains("Location", failure.Message, StringComparison.Ordinal);
    }
}
