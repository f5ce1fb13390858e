using System.Text;
using FetchApi.Engine.Robots;

namespace FetchApi.UnitTests.Engine;

/// <summary>robots.txt as RFC 9309 reads it: its own examples first, then edge cases.</summary>
public sealed class RobotsTxtTests
{
    static RobotsTxt Parse(string body, string agent = "FetchApi") => RobotsTxt.Parse(Encoding.UTF8.GetBytes(body), agent);

    // RFC 9309 §5.1, the example file.
    const string RfcExample = """
        User-Agent: *
        Disallow: *.gif$
        Disallow: /example/
        Allow: /publications/

        User-Agent: foobot
        Disallow:/
        Allow:/example/page.html
        Allow:/example/allowed.gif

        User-Agent: barbot
        User-Agent: bazbot
        Disallow: /example/page.html

        User-Agent: quxbot

        EOF
        """;

    [Theory]
    [InlineData("foobot", "/example/page.html", true)]
    [InlineData("foobot", "/example/allowed.gif", true)]
    [InlineData("foobot", "/example/other.html", false)]
    [InlineData("foobot", "/", false)]
    [InlineData("FOOBOT", "/", false)]
    [InlineData("barbot", "/example/page.html", false)]
    [InlineData("bazbot", "/example/page.html", false)]
    [InlineData("barbot", "/example/other.html", true)]
    [InlineData("barbot", "/x.gif", true)]
    [InlineData("quxbot", "/example/page.html", true)]
    [InlineData("quxbot", "/x.gif", true)]
    [InlineData("otherbot", "/x.gif", false)]
    [InlineData("otherbot", "/x.gif?v=1", true)]
    [InlineData("otherbot", "/example/a", false)]
    [InlineData("otherbot", "/publications/a", true)]
    [InlineData("otherbot", "/", true)]
    public void TheRfcExampleFileDecidesAsTheRfcSays(string agent, string path, bool allowed)
    {
        Assert.Equal(allowed, Parse(RfcExample, agent).IsAllowed(path));
    }

    [Theory]
    [InlineData("/foo/bar?baz=quz", "/foo/bar?baz=quz", true)]
    [InlineData("/foo/bar/ツ", "/foo/bar/%E3%83%84", true)]
    [InlineData("/foo/bar/%E3%83%84", "/foo/bar/%E3%83%84", true)]
    [InlineData("/foo/bar/%e3%83%84", "/foo/bar/%E3%83%84", true)]
    [InlineData("/foo/bar/%62%61%7A", "/foo/bar/baz", true)]
    [InlineData("/foo/bar/baz", "/foo/bar/%62%61%7A", true)]
    [InlineData("/a%2Fb", "/a/b", false)]
    [InlineData("/path/file-with-a-*.html", "/path/file-with-a-asterisk.html", true)]
    [InlineData("/path/foo-$", "/path/foo-", true)]
    [InlineData("/path/foo-$", "/path/foo-bar", false)]
    [InlineData("/fish", "/fish.html", true)]
    [InlineData("/fish", "/Fish", false)]
    [InlineData("/fish/", "/fish", false)]
    [InlineData("/*.php", "/folder/filename.php?parameters", true)]
    [InlineData("/*.php$", "/filename.php?parameters", false)]
    [InlineData("/fish*.php", "/fishheads/catfish.php?parameters", true)]
    [InlineData("/fish*.php", "/Fish.PHP", false)]
    [InlineData("/a*b*c", "/axxbyyc", true)]
    [InlineData("/a*b*c", "/axxcyyb", false)]
    [InlineData("/a*c$", "/abcbc", true)]
    [InlineData("/a*c$", "/abcb", false)]
    [InlineData("*", "/anything", true)]
    [InlineData("/a$b", "/a$b", true)]
    [InlineData("/%41%5A%61%7A%30%39%2D%2E%5F%7E", "/AZaz09-._~", true)]
    [InlineData("/%40%5B%60%7B%2F%3A", "/@[`{/:", false)]
    [InlineData("/%4a%4A", "/JJ", true)]
    [InlineData("/%3a", "/%3A", true)]
    [InlineData("/%fF", "/%FF", true)]
    [InlineData("/%0A%0a", "/%0A%0A", true)]
    [InlineData("/%G1", "/%G1", true)]
    [InlineData("/%G1", "/%47%31", false)]
    [InlineData("/%g1", "/%g1", true)]
    [InlineData("/%:1", "/%:1", true)]
    [InlineData("/%/1", "/%/1", true)]
    [InlineData("/%@1", "/%@1", true)]
    [InlineData("/%`1", "/%`1", true)]
    [InlineData("/%4", "/%4", true)]
    [InlineData("/ab%", "/ab%", true)]
    [InlineData("/a b", "/a%20b", true)]
    [InlineData("/a\u007Fb", "/a%7Fb", true)]
    [InlineData("/a!b", "/a!b", true)]
    [InlineData("/a!b", "/a%21b", false)]
    public void PatternsMatchPercentEncodedPathsFromTheStart(string pattern, string path, bool matches)
    {
        var robots = Parse($"User-agent: *\nDisallow: {pattern}\n");

        Assert.Equal(!matches, robots.IsAllowed(path));
    }

    [Fact]
    public void TheLongestMatchWinsAndAllowWinsATie()
    {
        var robots = Parse("""
            User-agent: *
            Allow: /example/page/
            Disallow: /example/page/disallowed.gif
            Allow: /folder
            Disallow: /folder
            Disallow: /shelf
            Allow: /shelf
            Disallow: /p
            Allow: /p*
            """);

        Assert.True(robots.IsAllowed("/shelf/book"));

        Assert.True(robots.IsAllowed("/example/page/"));
        Assert.False(robots.IsAllowed("/example/page/disallowed.gif"));
        Assert.True(robots.IsAllowed("/folder/page"));
        Assert.True(robots.IsAllowed("/page"));
    }

    [Fact]
    public void OurGroupWinsOverTheStarGroupAndGroupsOfOneAgentAreMerged()
    {
        var robots = Parse("""
            User-agent: *
            Disallow: /

            User-agent: FetchApi/2.0
            Disallow: /private

            User-agent: otherbot
            Disallow: /public

            User-agent: fetchapi
            Disallow: /secret
            Crawl-delay: 2.5
            """);

        Assert.True(robots.IsAllowed("/public"));
        Assert.False(robots.IsAllowed("/private/x"));
        Assert.False(robots.IsAllowed("/secret"));
        Assert.Equal(TimeSpan.FromSeconds(2.5), robots.CrawlDelay);
    }

    [Fact]
    public void TheStarGroupsCrawlDelayAppliesWhenNoGroupIsOurs()
    {
        var robots = Parse("User-agent: *\nCrawl-delay: 3\nDisallow: /x\n\nUser-agent: otherbot\nCrawl-delay: 9\n");

        Assert.Equal(TimeSpan.FromSeconds(3), robots.CrawlDelay);
        Assert.False(robots.IsAllowed("/x"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Disallow: /\n")]
    [InlineData("User-agent: otherbot\nDisallow: /\n")]
    [InlineData("garbage without a colon\n\u0000\u0001\n")]
    [InlineData("User-agent: *\nDisallow:\n")]
    public void WithoutARuleForUsEverythingIsAllowed(string body)
    {
        var robots = Parse(body);

        Assert.True(robots.IsAllowed("/"));
        Assert.True(robots.IsAllowed("/any/path?q=1"));
        Assert.Null(robots.CrawlDelay);
    }

    [Fact]
    public void CommentsCaseBlanksAndCrLfAreTolerated()
    {
        var robots = Parse("\uFEFF# hello\r\nUSER-AGENT : fetchapi # us\r\n  DISALLOW :   /a   # not /a/b? yes, prefix\r\nallow: /a/b\r\n");

        Assert.False(robots.IsAllowed("/a"));
        Assert.False(robots.IsAllowed("/a/c"));
        Assert.True(robots.IsAllowed("/a/b"));
        Assert.True(robots.IsAllowed("/b"));
    }

    [Fact]
    public void RulesBeyondTheParseLimitAreIgnored()
    {
        var padding = new string('#', RobotsTxt.ParseLimitBytes);
        var robots = Parse($"User-agent: *\nDisallow: /early\n{padding}\nDisallow: /late\n");

        Assert.False(robots.IsAllowed("/early"));
        Assert.True(robots.IsAllowed("/late"));
    }

    [Fact]
    public void RobotsTxtItselfIsAlwaysAllowedAndDisallowAllDisallowsTheRest()
    {
        Assert.True(Parse("User-agent: *\nDisallow: /\n").IsAllowed("/robots.txt"));
        Assert.True(RobotsTxt.DisallowAll.IsAllowed("/robots.txt"));
        Assert.False(RobotsTxt.DisallowAll.IsAllowed("/"));
        Assert.True(RobotsTxt.AllowAll.IsAllowed("/anything"));
        Assert.True(RobotsTxt.DisallowAll.DisallowsAll);
        Assert.False(RobotsTxt.AllowAll.DisallowsAll);
    }

    [Fact]
    public void AnEmptyPathIsTheRoot()
    {
        Assert.False(Parse("User-agent: *\nDisallow: /$\n").IsAllowed(""));
    }

    [Theory]
    [InlineData("Crawl-delay: -1")]
    [InlineData("Crawl-delay: soon")]
    [InlineData("Crawl-delay: NaN")]
    public void ABadCrawlDelayIsIgnored(string line)
    {
        Assert.Null(Parse($"User-agent: *\n{line}\n").CrawlDelay);
    }

    [Fact]
    public void AHugeCrawlDelayIsCappedAtADay()
    {
        Assert.Equal(TimeSpan.FromDays(1), Parse("User-agent: *\nCrawl-delay: 1e9\n").CrawlDelay);
    }
}
