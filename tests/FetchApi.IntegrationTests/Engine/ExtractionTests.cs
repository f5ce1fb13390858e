using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using FetchApi.IntegrationTests.Upstream;

namespace FetchApi.IntegrationTests.Engine;

/// <summary>
/// <c>options.extract</c> over HTTP: what a client reads in <c>response.extracted</c>. The pages name hosts of every
/// kind in their links; the service only reads them, and fetches nothing but the loopback upstream.
/// </summary>
public sealed class ExtractionTests(ExtractionTests.Fixture fixture) : IClassFixture<ExtractionTests.Fixture>
{
    public sealed class Fixture() : ServiceWithUpstream
    {
        static Fixture() => Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);
    }

    HttpClient Client => fixture.Client;
    UpstreamServer Upstream => fixture.Upstream;

    static readonly string[] Everything = ["title", "description", "links", "text"], TitleOnly = ["title"], TitleAndText = ["title", "text"],
        TextTitleText = ["text", "title", "text"];

    const string Article =
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
          <meta charset="utf-8">
          <title>
            Release notes &amp; upgrade guide
          </title>
          <meta name="description" content="What changed in version 2, and how to upgrade.">
          <base href="/docs/v2/">
          <style>body { font-family: serif }</style>
          <script>window.analytics = "not text";</script>
        </head>
        <body>
          <nav><a href="index.html">Docs</a> | <a href="../v1/index.html">Version 1</a> | <a href="https://example.org/blog#latest">Blog</a></nav>
          <h1>Version   2</h1>
          <p>Read the <a href="upgrade.html#step-1">upgrade guide</a> first, then the <a href="upgrade.html#step-2">second step</a>.</p>
          <p>Questions? <a href="mailto:help@example.org">Mail us</a> or <a href="javascript:openChat()">chat</a>.</p>
          <noscript>Turn on JavaScript for the chat.</noscript>
          <template><p>Not rendered</p></template>
          <div hidden>Hidden draft</div>
          <script>document.title = "changed by a script";</script>
        </body>
        </html>
        """;

    static JsonObject? Extracted(JsonObject slot) => slot["response"]?["extracted"] as JsonObject;

    static string[] Strings(JsonNode? array) => [.. array!.AsArray().Select(n => n!.GetValue<string>())];

    [Fact]
    public async Task EveryFieldIsWhatABrowserShowsOfThePage()
    {
        var url = Upstream.Serve("article", "text/html; charset=utf-8", Encoding.UTF8.GetBytes(Article));

        var id = await Client.SubmitAsync([url], new { extract = Everything });
        var slot = (await Client.ResultsAsync(id)).Single();
        var extracted = Extracted(slot)!;

        Assert.Equal("fetched", slot.State());
        Assert.Equal("Release notes & upgrade guide", extracted["title"]!.GetValue<string>());
        Assert.Equal("What changed in version 2, and how to upgrade.", extracted["description"]!.GetValue<string>());
        // Resolved against <base href="/docs/v2/"> on the upstream's origin; fragments dropped, each link once; no mailto: or javascript:.
        Assert.Equal(
            [Upstream.Url("/docs/v2/index.html"), Upstream.Url("/docs/v1/index.html"), "https://example.org/blog", Upstream.Url("/docs/v2/upgrade.html")],
            Strings(extracted["links"]));
        Assert.Equal("Docs | Version 1 | Blog Version 2 Read the upgrade guide first, then the second step. Questions? Mail us or chat.",
            extracted["text"]!.GetValue<string>());
        Assert.Null(extracted["error"]);
    }

    [Fact]
    public async Task ThePageIsReadWhetherOrNotTheBodyIsReturned()
    {
        var url = Upstream.Serve("small", "text/html", "<title>Small</title><p>Body</p>"u8.ToArray());

        var withoutBody = await Client.SubmitAsync([url], new { extract = TitleOnly });
        var withBody = await Client.SubmitAsync([url], new { extract = TitleOnly, includeBody = true });
        var first = (await Client.ResultsAsync(withoutBody)).Single()["response"]!;
        var second = (await Client.ResultsAsync(withBody)).Single()["response"]!;

        Assert.Null(first["body"]);
        Assert.Equal("Small", first["extracted"]!["title"]!.GetValue<string>());
        Assert.Equal("<title>Small</title><p>Body</p>", second["body"]!.GetValue<string>());
        Assert.Equal("Small", second["extracted"]!["title"]!.GetValue<string>());
    }

    [Fact]
    public async Task OnlyHtmlResponsesHaveExtractedAndOnlyWhenItWasAskedFor()
    {
        var html = Upstream.Serve("plain-html", "text/html; charset=utf-8", "<title>Page</title>"u8.ToArray());
        var json = Upstream.Serve("json", "application/json", """{"title":"not a page"}"""u8.ToArray());
        var xhtml = Upstream.Serve("xhtml", "application/xhtml+xml", "<html xmlns='http://www.w3.org/1999/xhtml'><head><title>X</title></head></html>"u8.ToArray());

        var asked = await Client.ResultsAsync(await Client.SubmitAsync(
            [html, Upstream.Url("/ok"), Upstream.Url("/bytes/100"), json, Upstream.Url("/status/404"), xhtml], new { extract = TitleOnly }));
        var notAsked = (await Client.ResultsAsync(await Client.SubmitAsync([html]))).Single();

        Assert.All(asked, slot => Assert.Equal("fetched", slot.State()));
        Assert.Equal("Page", Extracted(asked[0])!["title"]!.GetValue<string>());
        Assert.Equal([null, null, null, null], asked[1..5].Select(Extracted));
        Assert.Equal("X", Extracted(asked[5])!["title"]!.GetValue<string>());
        Assert.Null(Extracted(notAsked));
    }

    [Fact]
    public async Task APageInALegacyEncodingIsDecodedByItsMetaCharset()
    {
        var url = Upstream.Serve("cyrillic", "text/html",
            Encoding.GetEncoding("windows-1251").GetBytes("<meta charset=windows-1251><title>Новости</title><p>Сегодня"));

        var extracted = Extracted((await Client.ResultsAsync(await Client.SubmitAsync([url], new { extract = TitleAndText }))).Single())!;

        Assert.Equal(("Новости", "Сегодня"), (extracted["title"]!.GetValue<string>(), extracted["text"]!.GetValue<string>()));
    }

    [Fact]
    public async Task TheBatchOptionsShowWhatIsExtractedEachFieldOnceInOneOrder()
    {
        var id = await Client.SubmitAsync([Upstream.Url("/ok")], new { extract = TextTitleText });

        var summary = await Client.GetJsonAsync($"/batches/{id}?results=false");
        var plain = await Client.GetJsonAsync($"/batches/{await Client.SubmitAsync([Upstream.Url("/ok")])}?results=false");

        Assert.Equal(["title", "text"], Strings(summary["options"]!["extract"]));
        Assert.Empty(Strings(plain["options"]!["extract"]));
    }

    [Fact]
    public async Task AnUnknownExtractValueIsAProblemNamingIt()
    {
        using var response = await Client.PostTextAsync("/batches", $$$"""{"urls":["{{{Upstream.Url("/ok")}}}"],"options":{"extract":["headings","title"]}}""");
        var problem = await response.ReadProblemAsync(HttpStatusCode.BadRequest);

        problem.AssertErrorsName("options.extract[0]");
        Assert.Contains("title, description, links, text", problem["errors"]!["options.extract[0]"]![0]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheOpenApiDocumentListsWhatCanBeExtracted()
    {
        var document = await Client.GetJsonAsync("/swagger/v1/swagger.json");
        var schemas = document["components"]!["schemas"]!;
        string[] Values(JsonNode items) =>
            Strings((items["$ref"] is { } reference ? schemas[reference.GetValue<string>().Split('/')[^1]]! : items)["enum"]);

        Assert.Equal(["title", "description", "links", "text"], Values(schemas["BatchOptionsRequest"]!["properties"]!["extract"]!["items"]!));
        Assert.Equal(["title", "description", "links", "text"], Values(schemas["BatchOptions"]!["properties"]!["extract"]!["items"]!));
        Assert.NotNull(schemas["FetchResponse"]!["properties"]!["extracted"]);
        Assert.Equal(["title", "description", "links", "text", "error"], schemas["Extracted"]!["properties"]!.AsObject().Select(p => p.Key));
    }

    [Fact]
    public async Task ExtractWithHeadIsAProblemNamingExtract()
    {
        using var response = await Client.PostTextAsync("/batches",
            $$$"""{"urls":["{{{Upstream.Url("/ok")}}}"],"options":{"method":"HEAD","extract":["title"]}}""");

        (await response.ReadProblemAsync(HttpStatusCode.BadRequest)).AssertErrorsName("options.extract");
    }
}
