namespace FetchApi.Telemetry;

/// <summary>What of a URL may appear in a log line at Information and above: no user-info, no query string.</summary>
public static class LogRedaction
{
    public static string Url(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri)
            ? uri.GetLeftPart(UriPartial.Path) + (uri.Query.Length > 0 ? "?[redacted]" : "")
            : "[unparsable url]";
}
