using System.Text;
using FetchApi.Engine.Extraction;
using FetchApi.Model;

namespace FetchApi.UnitTests.Engine;

/// <summary>
/// What <c>options.extract</c> reads from a page, checked against what a browser shows for the same bytes. Nothing
/// here touches a network: links are only read, never fetched.
/// </summary>
public sealed class HtmlExtractorTests
{
    static readonly ExtractField[] All = [ExtractField.Title, ExtractField.Description, ExtractField.Links, ExtractField.Text];

    const string Page = "https://example.com/dir/page.html";

    // The tests encode pages in legacy code pages themselves, before the extractor registers them.
    static HtmlExtractorTests() => Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);

    static Task<Extracted?> ExtractAsync(byte[] body, string? contentType = "text/html; charset=utf-8", string url = Page, long maxBytes = 1 << 20,
        ExtractField[]? fields = null) =>
        HtmlExtractor.ExtractAsync(body, contentType, new Uri(url), fields ?? All, maxBytes, TestContext.Current.CancellationToken);

    static Task<Extracted?> ExtractUntilAsync(string html, CancellationToken cancellationToken) =>
        HtmlExtractor.ExtractAsync(Encoding.UTF8.GetBytes(html), "text/html", new Uri(Page), All, 1 << 20, cancellationToken);

    static async Task<Extracted> ReadAsync(string html, string? contentType = "text/html; charset=utf-8", string url = Page, long maxBytes = 1 << 20,
        ExtractField[]? fields = null)
    {
        var extracted = await ExtractAsync(Encoding.UTF8.GetBytes(html), contentType, url, maxBytes, fields);
        Assert.NotNull(extracted);
        Assert.Null(extracted.Error);
        return extracted;
    }

    static async Task<IReadOnlyList<string>> LinksAsync(string body, string url = Page) => (await ReadAsync(body, url: url)).Links!;

    [Fact]
    public async Task TitleIsTheFirstTitleElementWithItsWhitespaceCollapsed()
    {
        var extracted = await ReadAsync("<title>\n  Hello \t  wide\r\n world  </title><title>second</title><p>body");

        Assert.Equal("Hello wide world", extracted.Title);
    }

    [Theory]
    [InlineData("<p>no title at all")]
    [InlineData("<title>  \n </title><p>a blank one")]
    [InlineData("<body><svg><title>a tooltip, not the page's title</title></svg>")]
    public async Task APageWithoutATitleHasNone(string html)
    {
        Assert.Null((await ReadAsync(html)).Title);
    }

    [Fact]
    public async Task TitleKeepsEntitiesDecodedAndMarkupAsText()
    {
        Assert.Equal("Fish & Chips <b>", (await ReadAsync("<title>Fish &amp; Chips <b></title>")).Title);
    }

    [Fact]
    public async Task DescriptionIsTheContentOfTheFirstMetaDescription()
    {
        var extracted = await ReadAsync(
            """
            <meta name="keywords" content="not this">
            <meta name="Description" content="  The first
               description ">
            <meta name="description" content="not the second">
            """);

        Assert.Equal("The first description", extracted.Description);
    }

    [Theory]
    [InlineData("<meta name=description>")]
    [InlineData("<meta property=description content=x>")]
    [InlineData("<meta name=description content=''>")]
    [InlineData("<p>none")]
    public async Task APageWithoutADescriptionHasNone(string html)
    {
        Assert.Null((await ReadAsync(html)).Description);
    }

    [Fact]
    public async Task LinksAreAbsoluteResolvedAgainstTheFinalUrl()
    {
        var links = await LinksAsync(
            """
            <a href="other.html">1</a> <a href="../up">2</a> <a href="/root?q=1">3</a> <a href="//cdn.example.net/x">4</a>
            <a href="?page=2">5</a> <a href="HTTP://Example.COM:80/Case">6</a> <a href=" spaced.html ">7</a> <a href="">self</a>
            <area href="map-area" alt=m><link rel=stylesheet href="style.css"><a name=anchor-without-href>8</a>
            """);

        Assert.Equal(
            [
                "https://example.com/dir/other.html", "https://example.com/up", "https://example.com/root?q=1", "https://cdn.example.net/x",
                "https://example.com/dir/page.html?page=2", "http://example.com/Case", "https://example.com/dir/spaced.html",
                "https://example.com/dir/page.html", "https://example.com/dir/map-area",
            ],
            links);
    }

    [Fact]
    public async Task LinksAreResolvedAgainstTheFirstBaseHrefWhereverItStands()
    {
        var links = await LinksAsync(
            """
            <a href="before-base">1</a>
            <base target="_blank"><base href="/docs/v2/"><base href="https://ignored.example.org/">
            <a href="guide">2</a> <a href="/absolute-path">3</a>
            """);

        // The base's own href is relative: resolved against the final URL first.
        Assert.Equal(["https://example.com/docs/v2/before-base", "https://example.com/docs/v2/guide", "https://example.com/absolute-path"], links);
    }

    [Fact]
    public async Task AnUnusableBaseHrefLeavesTheFinalUrlAsTheBase()
    {
        Assert.Equal(["https://example.com/dir/a"], await LinksAsync("<base href='http://[bad'><a href=a>a</a>"));
    }

    [Fact]
    public async Task EachLinkAppearsOnceInDocumentOrderWithoutItsFragment()
    {
        var links = await LinksAsync(
            """
            <a href="b">b</a> <a href="a#top">a</a> <a href="b#section-2">b again</a> <a href="a">a again</a>
            <a href="https://example.com/dir/b">b, absolute</a> <a href="#only-a-fragment">this page</a>
            """);

        Assert.Equal(["https://example.com/dir/b", "https://example.com/dir/a", "https://example.com/dir/page.html"], links);
    }

    [Fact]
    public async Task OnlyHttpAndHttpsLinksAreKept()
    {
        var links = await LinksAsync(
            """
            <a href="javascript:void(0)">js</a> <a href=" JavaScript:alert(1)">js</a> <a href="mailto:a@example.com">mail</a>
            <a href="tel:+100">tel</a> <a href="data:text/html,hi">data</a> <a href="ftp://example.com/f">ftp</a>
            <a href="file:///etc/passwd">file</a> <a href="https://kept.example.com/">kept</a> <a href="http:">no host</a>
            """);

        Assert.Equal(["https://kept.example.com/"], links);
    }

    [Fact]
    public async Task LinksIgnoreTabsAndNewlinesInsideTheAttributeAndNameHostsInPunycode()
    {
        var links = await LinksAsync(
            "<a href='/pa\tt\rh\n/x'>1</a><a href='https://bücher.example/ü?q=ü#f'>2</a><a href='http://user@example.com/u'>3</a>" +
            "<a href='http://[2001:db8::1]:8080/v6#x'>4</a><a href='http://192.0.2.1/v4'>5</a>");

        Assert.Equal(
            [
                "https://example.com/path/x", "https://xn--bcher-kva.example/%C3%BC?q=%C3%BC", "http://user@example.com/u",
                "http://[2001:db8::1]:8080/v6", "http://192.0.2.1/v4",
            ],
            links);
    }

    [Fact]
    public async Task TextIsWhatTheBodyShowsWithoutScriptsStylesTemplatesAndHiddenElements()
    {
        var extracted = await ReadAsync(
            """
            <html><head><title>Not body text</title><style>p { color: red }</style><script>var inHead = 1;</script></head>
            <body>
              <h1>Heading</h1>
              <script>document.write("script text")</script>
              <p>One <b>bold</b>word,   spread
                 over lines.</p><p>Next&nbsp;paragraph</p>
              <style>.x{}</style><noscript>Enable JavaScript</noscript><template><p>template text</p></template>
              <div hidden>hidden text</div><iframe>iframe fallback</iframe><dialog>closed dialog</dialog><dialog open>open dialog</dialog>
              <ul><li>first</li><li>second</li></ul>a<br>b
              <svg><style>svg style</style><text>svg text</text></svg>
            </body></html>
            """);

        Assert.Equal("Heading One boldword, spread over lines. Next paragraph open dialog first second a b svg text", extracted.Text);
    }

    [Theory]
    [InlineData("address")]
    [InlineData("article")]
    [InlineData("aside")]
    [InlineData("blockquote")]
    [InlineData("center")]
    [InlineData("dd")]
    [InlineData("details")]
    [InlineData("dir")]
    [InlineData("div")]
    [InlineData("dl")]
    [InlineData("dt")]
    [InlineData("fieldset")]
    [InlineData("figcaption")]
    [InlineData("figure")]
    [InlineData("footer")]
    [InlineData("form")]
    [InlineData("h1")]
    [InlineData("h2")]
    [InlineData("h3")]
    [InlineData("h4")]
    [InlineData("h5")]
    [InlineData("h6")]
    [InlineData("header")]
    [InlineData("hgroup")]
    [InlineData("li")]
    [InlineData("main")]
    [InlineData("menu")]
    [InlineData("nav")]
    [InlineData("ol")]
    [InlineData("p")]
    [InlineData("pre")]
    [InlineData("section")]
    [InlineData("summary")]
    [InlineData("ul")]
    public async Task ABlockNeverRunsIntoTheTextAroundIt(string tag)
    {
        Assert.Equal("x a y", (await ReadAsync($"<span>x</span><{tag}>a</{tag}><span>y</span>", fields: [ExtractField.Text])).Text);
    }

    [Theory]
    [InlineData("<span>x</span><br><span>y</span>")]
    [InlineData("<span>x</span><hr><span>y</span>")]
    [InlineData("<dialog open>x</dialog><dialog open>y</dialog>")]
    [InlineData("<fieldset><legend>x</legend>y</fieldset>")]
    [InlineData("<table><caption>x</caption></table>y")]
    [InlineData("<table><tr><td>x</td><td>y</td></tr></table>")]
    [InlineData("<table><tr><th>x</th><th>y</th></tr></table>")]
    [InlineData("<select><option>x</option><option>y</option></select>")]
    [InlineData("<select><optgroup label=g>x</optgroup><optgroup label=h>y</optgroup></select>")]
    [InlineData("<span>x</span><table></table><span>y</span>")]
    public async Task BreaksCellsAndOptionsKeepTheirNeighboursApart(string html)
    {
        Assert.Equal("x y", (await ReadAsync(html, fields: [ExtractField.Text])).Text);
    }

    [Theory]
    [InlineData("script")]
    [InlineData("style")]
    [InlineData("template")]
    [InlineData("noscript")]
    [InlineData("title")]
    [InlineData("iframe")]
    [InlineData("noembed")]
    [InlineData("noframes")]
    [InlineData("datalist")]
    [InlineData("rp")]
    public async Task AnUnrenderedElementAddsNothingToTheText(string tag)
    {
        Assert.Equal("ab", (await ReadAsync($"<p>a<{tag}>unseen</{tag}>b</p>", fields: [ExtractField.Text])).Text);
    }

    [Fact]
    public async Task TextIsCappedAtMaxBodyBytesOfUtf8WithoutSplittingACharacter()
    {
        // "a é 😀": 'a' is 1 byte, a space 1, 'é' 2, the emoji 4 (a surrogate pair in .NET strings).
        Assert.Equal("a é", (await ReadAsync("<p>a é 😀 z</p>", maxBytes: 8, fields: [ExtractField.Text])).Text);
        Assert.Equal("a é 😀", (await ReadAsync("<p>a é 😀 z</p>", maxBytes: 9, fields: [ExtractField.Text])).Text);
        Assert.Equal("a", (await ReadAsync("<p>a é</p>", maxBytes: 3, fields: [ExtractField.Text])).Text);
        Assert.Equal("a é", (await ReadAsync("<p>a é</p>", maxBytes: 4, fields: [ExtractField.Text])).Text);
        Assert.Equal("", (await ReadAsync("<p>abc</p>", maxBytes: 0, fields: [ExtractField.Text])).Text);
        // U+0080 is the first two-byte character, U+0800 the first three-byte one.
        Assert.Equal("x", (await ReadAsync("<p>x\u0080</p>", maxBytes: 2, fields: [ExtractField.Text])).Text);
        Assert.Equal("x\u0080", (await ReadAsync("<p>x\u0080</p>", maxBytes: 3, fields: [ExtractField.Text])).Text);
        Assert.Equal("x\u07FF", (await ReadAsync("<p>x\u07FF</p>", maxBytes: 3, fields: [ExtractField.Text])).Text);
        Assert.Equal("x", (await ReadAsync("<p>x\u0800</p>", maxBytes: 3, fields: [ExtractField.Text])).Text);
        Assert.Equal("x\u0800", (await ReadAsync("<p>x\u0800</p>", maxBytes: 4, fields: [ExtractField.Text])).Text);
    }

    [Fact]
    public async Task TextEndsAtTheFirstCharacterThatDoesNotFitEvenIfALaterOneWould()
    {
        Assert.Equal("a", (await ReadAsync("<p>a</p><p>😀</p><p>b</p>", maxBytes: 3, fields: [ExtractField.Text])).Text);
    }

    [Fact]
    public async Task LinksStopAtMaxBodyBytesOfUtf8()
    {
        // Each link is 25 bytes: "https://example.com/dir/1".
        var html = "<a href=1>1</a><a href=2>2</a><a href=3>3</a>";

        Assert.Equal(["https://example.com/dir/1", "https://example.com/dir/2"], (await ReadAsync(html, maxBytes: 50)).Links);
        Assert.Equal(["https://example.com/dir/1"], (await ReadAsync(html, maxBytes: 49)).Links);
    }

    [Fact]
    public async Task OnlyTheFieldsAskedForAreRead()
    {
        const string html = "<title>t</title><meta name=description content=d><a href=x>x</a>";

        var titleOnly = await ReadAsync(html, fields: [ExtractField.Title]);
        var linksAndText = await ReadAsync(html, fields: [ExtractField.Links, ExtractField.Text]);

        Assert.Equal(new Extracted { Title = "t" }, titleOnly);
        Assert.Equal((null, null, "x"), (linksAndText.Title, linksAndText.Description, linksAndText.Text));
        Assert.Equal(["https://example.com/dir/x"], linksAndText.Links);
    }

    [Fact]
    public async Task APageWithNothingInItStillAnswersEveryFieldAskedFor()
    {
        var extracted = await ReadAsync("");

        Assert.Equal((null, null, ""), (extracted.Title, extracted.Description, extracted.Text));
        Assert.Empty(extracted.Links!);
    }

    [Fact]
    public async Task AMalformedPageIsReadTheWayBrowsersRecoverFromIt()
    {
        // No html/head/body, misnested and unclosed tags, unquoted attributes, a stray end tag, a title in the body.
        var extracted = await ReadAsync(
            "<meta name=description content=Broken><p>One <b>two <i>three</b> four</i><p>five<div>six</span></div>" +
            "<a href=next.html>seven <a href=/other>eight</a><title>Late title</title><table><tr><td>nine<td>ten</table><p>eleven");

        Assert.Equal("Late title", extracted.Title);
        Assert.Equal("Broken", extracted.Description);
        Assert.Equal(["https://example.com/dir/next.html", "https://example.com/other"], extracted.Links);
        Assert.Equal("One two three four five six seven eight nine ten eleven", extracted.Text);
    }

    [Fact]
    public async Task TheCharsetOfAMetaElementDecodesThePage()
    {
        var body = Encoding.GetEncoding("windows-1251").GetBytes("<meta charset=\"windows-1251\"><title>Привет, мир</title><p>Текст");

        var extracted = await ExtractAsync(body, "text/html");

        Assert.Equal(("Привет, мир", "Текст"), (extracted!.Title, extracted.Text));
    }

    [Fact]
    public async Task TheCharsetOfAMetaHttpEquivDecodesThePage()
    {
        var body = Encoding.GetEncoding("iso-8859-2").GetBytes(
            "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=ISO-8859-2\"><title>Łódź</title>");

        Assert.Equal("Łódź", (await ExtractAsync(body, "text/html"))!.Title);
    }

    [Fact]
    public async Task AMetaPastTheFirst1024BytesIsNotLookedFor()
    {
        var body = Encoding.GetEncoding("windows-1251").GetBytes($"<!--{new string('x', 1100)}--><meta charset=windows-1251><title>Да</title>");

        // Not valid UTF-8 and no declaration in reach: windows-1252, as a browser would.
        Assert.Equal("Äà", (await ExtractAsync(body, "text/html"))!.Title);
    }

    [Fact]
    public async Task TheContentTypeCharsetWinsOverAMetaAndABomWinsOverBoth()
    {
        var latin1 = Encoding.Latin1.GetBytes("<meta charset=utf-8><title>café</title>");
        var withBom = Encoding.UTF8.GetPreamble().Concat(Encoding.UTF8.GetBytes("<meta charset=windows-1251><title>café</title>")).ToArray();
        var utf16 = Encoding.Unicode.GetPreamble().Concat(Encoding.Unicode.GetBytes("<title>ça va</title>")).ToArray();
        var utf16BigEndian = Encoding.BigEndianUnicode.GetPreamble().Concat(Encoding.BigEndianUnicode.GetBytes("<title>ça va</title>")).ToArray();

        Assert.Equal("café", (await ExtractAsync(latin1, "text/html; charset=\"ISO-8859-1\""))!.Title);
        Assert.Equal("café", (await ExtractAsync(withBom, "text/html; charset=windows-1251"))!.Title);
        Assert.Equal("ça va", (await ExtractAsync(utf16, "text/html"))!.Title);
        Assert.Equal("ça va", (await ExtractAsync(utf16BigEndian, "text/html; charset=windows-1252"))!.Title);
    }

    [Fact]
    public async Task WithoutADeclarationValidUtf8IsUtf8AndAnythingElseWindows1252()
    {
        Assert.Equal("café €", (await ExtractAsync(Encoding.UTF8.GetBytes("<title>café €</title>"), "text/html"))!.Title);
        Assert.Equal("café €", (await ExtractAsync(Encoding.GetEncoding(1252).GetBytes("<title>café €</title>"), "text/html"))!.Title);
        Assert.Equal("café", (await ExtractAsync(Encoding.UTF8.GetBytes("<title>café</title>"), "text/html; charset=bogus-charset"))!.Title);
    }

    [Fact]
    public async Task AMetaDeclaringUtf16MeansUtf8()
    {
        Assert.Equal("日本", (await ExtractAsync(Encoding.UTF8.GetBytes("<meta charset=utf-16><title>日本</title>"), "text/html"))!.Title);
    }

    [Theory]
    [InlineData("application/json")]
    [InlineData("text/plain; charset=utf-8")]
    [InlineData("image/svg+xml")]
    [InlineData("text/htmlx")]
    [InlineData(null)]
    public async Task AResponseThatIsNotHtmlIsNotRead(string? contentType)
    {
        Assert.False(HtmlExtractor.IsHtml(contentType));
        Assert.Null(await ExtractAsync(Encoding.UTF8.GetBytes("<title>looks like html</title>"), contentType));
    }

    [Theory]
    [InlineData("text/html")]
    [InlineData("TEXT/HTML; Charset=UTF-8")]
    [InlineData(" text/html ;charset=utf-8")]
    [InlineData("application/xhtml+xml")]
    public async Task HtmlIsKnownByItsMediaTypeWhateverItsCaseAndParameters(string contentType)
    {
        Assert.True(HtmlExtractor.IsHtml(contentType));
        Assert.Equal("x", (await ExtractAsync(Encoding.UTF8.GetBytes("<title>x</title>"), contentType))!.Title);
    }

    [Fact]
    public async Task ACancelledReadThrowsSoThatTheStageDecidesWhatItMeans()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ExtractUntilAsync("<title>x</title>", cancelled.Token));
    }

    [Fact]
    public async Task ADeeplyNestedPageIsStoppedByTheToken()
    {
        // Tree building is quadratic in depth: 100,000 nested elements would take minutes. The token stops it.
        var deep = string.Concat(Enumerable.Repeat("<div>", 100_000));
        using var soon = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        soon.CancelAfter(TimeSpan.FromMilliseconds(200));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ExtractUntilAsync(deep, soon.Token));
    }

    [Fact]
    public async Task ADeepButFinitePageIsReadWithoutRecursion()
    {
        var html = string.Concat(Enumerable.Repeat("<span>", 3000)) + "<a href=deep>deep</a>";

        var extracted = await ReadAsync(html);

        Assert.Equal(["https://example.com/dir/deep"], extracted.Links);
        Assert.Equal("deep", extracted.Text);
    }
}
