using FetchApi.Urls;

namespace FetchApi.UnitTests.Urls;

/// <summary>Which URLs we agree to fetch, and what the refusal tells the client.</summary>
public sealed class UrlRulesTests
{
    static readonly int MaxLength = new UrlLimits().MaxUrlLength;

    [Theory]
    [InlineData("http://example.com/")]
    [InlineData("https://example.com:8443/a/b?c=d&e=f#g")]
    [InlineData("HTTPS://EXAMPLE.COM/")]
    [InlineData("http://example.com")]
    [InlineData("http://[2001:db8::1]:8080/")]
    [InlineData("http://bücher.example/")]
    [InlineData("http://example.com/a%20b")]
    [InlineData("http://example.com/users/@me")]
    [InlineData("http://example.com/?email=a@b.example")]
    public void FetchableUrlHasNoProblem(string url)
    {
        Assert.Null(UrlRules.Problem(url, MaxLength));
    }

    // (URL, what the message must say)
    [Theory]
    [InlineData(null, "it is empty")]
    [InlineData("", "it is empty")]
    [InlineData("   ", "it is empty")]
    [InlineData("http://example.com/a b", "spaces or control characters")]
    [InlineData("http://example.com/a\rb", "spaces or control characters")]
    [InlineData("http://example.com/a\nb", "spaces or control characters")]
    [InlineData("http://example.com/\r\nX-Injected: 1", "spaces or control characters")]
    [InlineData("http://example.com/a\0b", "spaces or control characters")]
    [InlineData("http://example.com/a\tb", "spaces or control characters")]
    [InlineData("http://example.com/a\u007fb", "spaces or control characters")]
    [InlineData("http://example.com/a\u00a0b", "spaces or control characters")]
    [InlineData("/relative/path", "is not an absolute URL")]
    [InlineData("example.com/a", "is not an absolute URL")]
    [InlineData("mailto:someone@example.com", "is not an absolute URL")]
    [InlineData("http://example.com:99999/", "is not an absolute URL")]
    [InlineData("http://example.com:http/", "is not an absolute URL")]
    [InlineData("ftp://example.com/file.txt", "has scheme 'ftp'")]
    [InlineData("file:///etc/passwd", "has scheme 'file'")]
    [InlineData("gopher://example.com/", "has scheme 'gopher'")]
    [InlineData("ws://example.com/socket", "has scheme 'ws'")]
    [InlineData("http://user:password@example.com/", "must not contain user-info")]
    [InlineData("http://user@example.com/", "must not contain user-info")]
    [InlineData("https://:password@example.com/", "must not contain user-info")]
    [InlineData("http://@example.com/", "must not contain user-info")]
    public void UnfetchableUrlIsRefusedSayingWhy(string? url, string because)
    {
        Assert.Contains(because, UrlRules.Problem(url, MaxLength), StringComparison.Ordinal);
    }

    [Fact]
    public void UrlOfExactlyTheMaximumLengthIsFetchable()
    {
        var url = "http://example.com/" + new string('a', 32 - "http://example.com/".Length);

        Assert.Null(UrlRules.Problem(url, maxLength: 32));
    }

    [Fact]
    public void UrlOneCharacterOverTheMaximumIsRefusedWithBothLengths()
    {
        var url = "http://example.com/" + new string('a', 33 - "http://example.com/".Length);

        Assert.Equal("is 33 characters long; at most 32 are allowed.", UrlRules.Problem(url, maxLength: 32));
    }
}
