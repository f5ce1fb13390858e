using System.Net.Http.Headers;
using System.Text;
using System.Text.Unicode;
using AngleSharp.Dom;
using AngleSharp.Html.Dom;
using AngleSharp.Html.Parser;
using AngleSharp.Text;
using FetchApi.Model;

namespace FetchApi.Engine.Extraction;

/// <summary>
/// Reads what <c>options.extract</c> asks for from an HTML response, as a browser sees the page. Pure: the body's bytes,
/// its content type, the final URL and the fields asked for go in, an <see cref="Extracted"/> comes out; no I/O and no
/// clock (the caller's token bounds the time a page may take: the HTML5 tree builder is quadratic in nesting depth).
/// The bytes are decoded with the encoding a browser picks (<see cref="Sniff"/>) and parsed by AngleSharp's HTML5
/// parser, whose error recovery is the browsers'; one walk of the tree then reads every field.
/// </summary>
public static class HtmlExtractor
{
    // Never rendered (display: none in the browsers' own style sheet), or not rendered where scripts run. Never walked
    // anyway: the head (text is read from the body) and a template's content (a fragment of its own, not its children).
    static bool Unrendered(string name) => name is "script" or "style" or "noscript" or "title" or "iframe" or "noembed" or "noframes"
        or "datalist" or "rp";

    // Boxes of their own: their text never runs into a neighbour's ("<p>a</p><p>b</p>" reads "a b", "<b>a</b>b" reads "ab").
    // In a table, the table and its cells are enough: rows, sections and captions only ever hold cells or sit beside them.
    static bool Block(string name) => name is "address" or "article" or "aside" or "blockquote" or "br" or "center" or "dd" or "details"
        or "dialog" or "dir" or "div" or "dl" or "dt" or "fieldset" or "figcaption" or "figure" or "footer" or "form" or "h1" or "h2" or "h3"
        or "h4" or "h5" or "h6" or "header" or "hgroup" or "hr" or "legend" or "li" or "main" or "menu" or "nav" or "ol" or "optgroup"
        or "option" or "p" or "pre" or "section" or "summary" or "table" or "td" or "th" or "ul";

    // What the URL parser strips from both ends of an attribute: C0 controls and space.
    static readonly char[] ControlOrSpace = [.. Enumerable.Range(0, 0x21).Select(c => (char)c)];

    static readonly Encoding Windows1252;

    static HtmlExtractor()
    {
        // Before AngleSharp's encoding table is first read: without the code pages .NET knows no legacy encoding
        // (windows-1252, Shift_JIS, ...), and AngleSharp quietly maps every one of them to UTF-8.
        Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);
        Windows1252 = Encoding.GetEncoding(1252);
    }

    /// <summary>Whether a response of <paramref name="contentType"/> is a page we extract from (text/html, application/xhtml+xml).</summary>
    public static bool IsHtml(string? contentType) =>
        contentType?.Split(';', 2)[0].Trim().ToLowerInvariant() is "text/html" or "application/xhtml+xml";

    /// <summary>
    /// Reads <paramref name="fields"/> from <paramref name="body"/>; null when the content type is not HTML. Links and
    /// text each hold at most <paramref name="maxBytes"/> bytes of UTF-8. A page that cannot be read gives an
    /// <see cref="Extracted.Error"/>; a cancelled token throws <see cref="OperationCanceledException"/>.
    /// </summary>
    public static async Task<Extracted?> ExtractAsync(ReadOnlyMemory<byte> body, string? contentType, Uri finalUrl,
        IReadOnlyCollection<ExtractField> fields, long maxBytes, CancellationToken cancellationToken)
    {
        if (!IsHtml(contentType))
        {
            return null;
        }

        try
        {
            var (encoding, bom) = Sniff(body.Span, Charset(contentType));
            // A string source: the parse runs to its end on this thread; the token is checked before every token.
            using var document = await Parser().ParseDocumentAsync(encoding.GetString(body.Span[bom..]), cancellationToken);
            return Read(document, finalUrl, fields, maxBytes, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return new Extracted { Error = $"the page could not be read: {ex.GetType().Name}: {ex.Message}" };
        }
    }

    static HtmlParser Parser() => new(new HtmlParserOptions { SkipComments = true, DisableElementPositionTracking = true });

    static string? Charset(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var parsed) ? parsed.CharSet?.Trim('"', ' ') : null;

    /// <summary>
    /// The encoding a browser decodes <paramref name="body"/> with, and the length of its byte order mark
    /// (WHATWG HTML, "determining the character encoding"): a BOM; else the Content-Type <paramref name="charset"/>;
    /// else a <c>&lt;meta charset&gt;</c> or <c>&lt;meta http-equiv="Content-Type"&gt;</c> in the first 1024 bytes;
    /// else UTF-8 when the bytes are valid UTF-8 (what the browsers' detectors conclude), windows-1252 otherwise.
    /// </summary>
    public static (Encoding Encoding, int Bom) Sniff(ReadOnlySpan<byte> body, string? charset) => body switch
    {
        [0xEF, 0xBB, 0xBF, ..] => (Encoding.UTF8, 3),
        [0xFE, 0xFF, ..] => (Encoding.BigEndianUnicode, 2),
        [0xFF, 0xFE, ..] => (Encoding.Unicode, 2),
        _ => (Label(charset) ?? DeclaredInMeta(body[..Math.Min(body.Length, 1024)]) ?? (Utf8.IsValid(body) ? Encoding.UTF8 : Windows1252), 0),
    };

    static Encoding? Label(string? label) => label is not null && TextEncoding.IsSupported(label.Trim()) ? TextEncoding.Resolve(label.Trim()) : null;

    /// <summary>The encoding a <c>meta</c> element in <paramref name="prefix"/> declares (parsed as bytes: every label is ASCII).</summary>
    static Encoding? DeclaredInMeta(ReadOnlySpan<byte> prefix)
    {
        using var head = Parser().ParseDocument(Encoding.Latin1.GetString(prefix));
        foreach (var meta in head.GetElementsByTagName("meta"))
        {
            var declared = meta.GetAttribute("charset") is { } charset ? Label(charset)
                : "content-type".Equals(meta.GetAttribute("http-equiv")?.Trim(), StringComparison.OrdinalIgnoreCase)
                  && meta.GetAttribute("content") is { } content ? TextEncoding.Parse(content)
                : null;
            if (declared is not null)
            {
                // A page cannot declare UTF-16 in ASCII: a meta that says so means UTF-8.
                return declared is UnicodeEncoding ? Encoding.UTF8 : declared;
            }
        }

        return null;
    }

    static Extracted Read(IHtmlDocument document, Uri finalUrl, IReadOnlyCollection<ExtractField> fields, long maxBytes, CancellationToken ct)
    {
        string? title = null, description = null, baseHref = null;
        var hrefs = new List<string>();
        foreach (var element in Elements(document.DocumentElement, ct))
        {
            if (element.NamespaceUri != NamespaceNames.HtmlUri)
            {
                continue;
            }

            switch (element.LocalName)
            {
                case "title":
                    title ??= element.TextContent;
                    break;
                case "meta" when description is null && "description".Equals(element.GetAttribute("name")?.Trim(), StringComparison.OrdinalIgnoreCase):
                    description = element.GetAttribute("content");
                    break;
                case "base" when baseHref is null && element.GetAttribute("href") is { } href:
                    baseHref = href;
                    break;
                case "a" or "area" when element.GetAttribute("href") is { } href:
                    hrefs.Add(href);
                    break;
            }
        }

        return new Extracted
        {
            Title = fields.Contains(ExtractField.Title) ? Blank(Collapse(title)) : null,
            Description = fields.Contains(ExtractField.Description) ? Blank(Collapse(description)) : null,
            Links = fields.Contains(ExtractField.Links) ? Links(hrefs, BaseUrl(finalUrl, baseHref), maxBytes) : null,
            Text = fields.Contains(ExtractField.Text) ? VisibleText(document.Body, maxBytes, ct) : null,
        };
    }

    static string? Blank(string? value) => string.IsNullOrEmpty(value) ? null : value;

    static string? Collapse(string? value)
    {
        if (value is null)
        {
            return null;
        }

        var text = new CollapsedText(long.MaxValue);
        text.Append(value);
        return text.ToString();
    }

    /// <summary>Every element under <paramref name="root"/>, itself included, in document order (no recursion: any depth is fine).</summary>
    static IEnumerable<IElement> Elements(IElement? root, CancellationToken ct)
    {
        var stack = new Stack<IElement>();
        if (root is not null)
        {
            stack.Push(root);
        }

        for (var visited = 1; stack.TryPop(out var element); visited++)
        {
            if (visited % 4096 == 0)
            {
                ct.ThrowIfCancellationRequested();
            }

            yield return element;
            for (var child = element.LastElementChild; child is not null; child = child.PreviousElementSibling)
            {
                stack.Push(child);
            }
        }
    }

    /// <summary>The document's base URL: the first <c>&lt;base href&gt;</c> resolved against the final URL, else the final URL.</summary>
    static Uri BaseUrl(Uri finalUrl, string? baseHref) =>
        baseHref is not null && Uri.TryCreate(finalUrl, UrlText(baseHref), out var resolved) ? resolved : finalUrl;

    /// <summary>
    /// An attribute as the URL parser reads it: leading and trailing spaces and controls dropped, tabs and newlines
    /// removed (the HTML parser has already made every CR a LF).
    /// </summary>
    static string UrlText(string href) =>
        href.Trim(ControlOrSpace).Replace("\t", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal);

    static List<string> Links(List<string> hrefs, Uri baseUrl, long maxBytes)
    {
        var links = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        long bytes = 0;
        foreach (var href in hrefs)
        {
            if (!Uri.TryCreate(baseUrl, UrlText(href), out var uri) || uri.Scheme is not ("http" or "https") || uri.Host.Length == 0)
            {
                continue;
            }

            var link = WithoutFragment(uri);
            if (!seen.Add(link))
            {
                continue;
            }

            bytes += Encoding.UTF8.GetByteCount(link);
            if (bytes > maxBytes)
            {
                break;
            }

            links.Add(link);
        }

        return links;
    }

    /// <summary>The URL as a browser serializes it (an international host as punycode), without its fragment.</summary>
    static string WithoutFragment(Uri uri)
    {
        if (uri.Host != uri.IdnHost)
        {
            uri = new UriBuilder(uri) { Host = uri.IdnHost }.Uri;
        }

        return uri.GetComponents(UriComponents.AbsoluteUri & ~UriComponents.Fragment, UriFormat.UriEscaped);
    }

    /// <summary>The text a reader sees in <paramref name="body"/>: unrendered and hidden elements skipped, blocks kept apart.</summary>
    static string VisibleText(IElement? body, long maxBytes, CancellationToken ct)
    {
        var text = new CollapsedText(maxBytes);
        var stack = new Stack<(INode Node, bool Leaving)>();
        if (body is not null)
        {
            stack.Push((body, false));
        }

        for (var visited = 1; !text.Full && stack.TryPop(out var item); visited++)
        {
            if (visited % 4096 == 0)
            {
                ct.ThrowIfCancellationRequested();
            }

            var (node, leaving) = item;
            if (leaving)
            {
                text.Break();
                continue;
            }

            if (node is IText textNode)
            {
                text.Append(textNode.Data);
                continue;
            }

            if (node is not IElement element || Unrendered(element.LocalName) || element.HasAttribute("hidden")
                || (element.LocalName == "dialog" && !element.HasAttribute("open")))
            {
                continue;
            }

            if (Block(element.LocalName))
            {
                text.Break();
                stack.Push((element, true));
            }

            for (var child = element.LastChild; child is not null; child = child.PreviousSibling)
            {
                stack.Push((child, false));
            }
        }

        return text.ToString();
    }
}
