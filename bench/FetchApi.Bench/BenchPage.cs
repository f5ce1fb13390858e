using System.Globalization;
using System.Text;

namespace FetchApi.Bench;

/// <summary>
/// The page of the extract scenario: 200 KB of HTML shaped like an encyclopedia article (a head with styles, scripts
/// and metadata; navigation; sections of paragraphs with inline links and markup, lists and tables; inline scripts;
/// a footer), the same bytes for every request. Its links name example hosts: they are read, never fetched.
/// </summary>
static class BenchPage
{
    public const int TargetBytes = 200_000;

    public static readonly byte[] Bytes = Encoding.UTF8.GetBytes(Build());

    static string Build()
    {
        var inv = CultureInfo.InvariantCulture;
        var random = new Random(13);
        string[] words =
        [
            "the", "engine", "fetches", "pages", "and", "reads", "their", "titles", "links", "text", "while", "scheduler", "keeps",
            "hosts", "fair", "durable", "results", "are", "written", "in", "groups", "backpressure", "bounded", "channel", "café",
            "naïve", "über", "résumé", "parser", "document", "of", "a", "to", "with", "for", "by",
        ];
        string Words(int count) => string.Join(' ', Enumerable.Range(0, count).Select(_ => words[random.Next(words.Length)]));

        var html = new StringBuilder(TargetBytes + 8_000);
        html.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
            .Append("<title>FetchApi bench article: extraction on a CPU stage</title>")
            .Append("<meta name=\"description\" content=\"A 200 KB page for the extract scenario of the FetchApi benchmark.\">")
            .Append("<meta name=\"viewport\" content=\"width=device-width\"><link rel=\"stylesheet\" href=\"/static/site.css\">")
            .Append("<style>").Append(string.Concat(Enumerable.Range(0, 60).Select(i => $".c{i} {{ margin: {i}px; color: #{i:x3}; }}\n"))).Append("</style>")
            .Append("<script>").Append(string.Concat(Enumerable.Range(0, 80).Select(i => $"window.v{i} = function (x) {{ return x * {i} + '<p>'; }};\n")))
            .Append("</script></head>\n<body class=\"article\"><header><nav><ul>");
        for (var i = 0; i < 40; i++)
        {
            html.Append(inv, $"<li><a href=\"/wiki/Portal_{i}\" class=\"nav\">Portal {i}</a></li>");
        }

        html.Append("</ul></nav></header>\n<main><article><h1>Extraction on a CPU stage</h1>\n");
        for (var section = 0; html.Length < TargetBytes - 3_000; section++)
        {
            html.Append(inv, $"<section id=\"s{section}\"><h2>Section {section}: {Words(4)}</h2>\n");
            for (var paragraph = 0; paragraph < 4; paragraph++)
            {
                html.Append("<p>").Append(Words(30))
                    .Append(inv, $" <a href=\"/wiki/Topic_{random.Next(400)}\">{Words(2)}</a> ").Append(Words(25))
                    .Append(inv, $" <b>{Words(3)}</b> <i>{Words(2)}</i> <a href=\"https://example.org/ref/{random.Next(200)}#cite-{paragraph}\">[{paragraph + 1}]</a> ")
                    .Append(Words(20)).Append(" <code>options.extract</code>.</p>\n");
            }

            html.Append("<ul>");
            for (var item = 0; item < 5; item++)
            {
                html.Append(inv, $"<li><a href=\"../see/also_{random.Next(300)}.html\">{Words(3)}</a> {Words(8)}</li>");
            }

            html.Append("</ul>\n");
            if (section % 4 == 0)
            {
                html.Append("<table><thead><tr><th>name</th><th>value</th><th>note</th></tr></thead><tbody>");
                for (var row = 0; row < 8; row++)
                {
                    html.Append(inv, $"<tr><td>{Words(1)}</td><td>{random.Next(10_000)}</td><td>{Words(5)}</td></tr>");
                }

                html.Append("</tbody></table>\n");
            }

            html.Append(inv, $"<script>window.track && window.track({section});</script></section>\n");
        }

        html.Append("</article></main><footer><p>Footer: <a href=\"mailto:bench@example.org\">mail</a> ")
            .Append("<a href=\"javascript:void(0)\">top</a> <a href=\"/about#team\">about</a></p></footer></body></html>\n");
        return html.ToString();
    }
}
