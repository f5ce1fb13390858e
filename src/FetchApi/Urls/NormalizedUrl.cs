using System.Globalization;

namespace FetchApi.Urls;

/// <summary>
/// A URL as the engine requests it. The engine hands <c>new Uri(url)</c> to <see cref="HttpClient"/>, whose handler
/// connects to <see cref="Uri.IdnHost"/> and <see cref="Uri.Port"/>, sends <c>Host: IdnHost[:port]</c> and the request
/// target <see cref="Uri.PathAndQuery"/>; this is those parts put back together. So: scheme and host lower-cased,
/// IDN as punycode (<c>xn--…</c>), IPv4 in any spelling (<c>0x7f000001</c>, <c>127.1</c>) as dotted decimal, IPv6
/// compressed, the default port dropped, dot segments removed (<c>%2e%2e</c> too), non-ASCII and spaces
/// percent-encoded, unreserved characters decoded (<c>%7E</c> → <c>~</c>), and the fragment dropped (never sent).
/// </summary>
/// <param name="Value">The normalized URL.</param>
/// <param name="Host">The host connected to: punycode name or address, IPv6 without brackets (a zone stays <c>%25</c>-encoded).</param>
/// <param name="Port">The port connected to, default ports included (80, 443).</param>
/// <param name="HostIsAddress">Whether the host is an IP address rather than a name.</param>
public sealed record NormalizedUrl(string Value, string Host, int Port, bool HostIsAddress)
{
    /// <summary>The normalized form of an absolute http or https URL with a host, or null.</summary>
    public static NormalizedUrl? Parse(string? url) =>
        url is not null && Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
            && uri.IdnHost.Length > 0
            ? From(uri)
            : null;

    /// <summary>The normalized form of <paramref name="uri"/>.</summary>
    public static NormalizedUrl From(Uri uri)
    {
        var host = uri.IdnHost;
        var isIPv6 = uri.HostNameType == UriHostNameType.IPv6;
        var port = uri.IsDefaultPort ? "" : ":" + uri.Port.ToString(CultureInfo.InvariantCulture);
        var value = $"{uri.Scheme}://{(isIPv6 ? $"[{host}]" : host)}{port}{uri.PathAndQuery}";
        return new NormalizedUrl(value, host, uri.Port, isIPv6 || uri.HostNameType == UriHostNameType.IPv4);
    }
}
