using System.Globalization;
using System.Text.RegularExpressions;
using FetchApi.Model;

namespace FetchApi.Engine;

/// <summary>
/// Where a redirect's <c>Location</c> leads, resolved the way browsers do (the WHATWG URL standard, as far as it
/// matters for http and https): tabs and newlines are dropped, leading and trailing spaces and controls trimmed, a
/// backslash counts as a slash, any run of slashes before an authority is one <c>//</c>, a host is percent-decoded and
/// mapped with UTS #46 (<c>１２７．０．０．１</c> is 127.0.0.1, <c>ⓛⓞⓒⓐⓛⓗⓞⓢⓣ</c> is localhost). The upstream controls these
/// bytes: what cannot be made into an http(s) URL is a <c>protocol_error</c> with the value in the message. Pure.
/// </summary>
public static partial class RedirectTarget
{
    [GeneratedRegex("^([A-Za-z][A-Za-z0-9+.-]*):(.*)$", RegexOptions.Singleline)]
    private static partial Regex SchemeAndRest();

    static readonly char[] C0AndSpace = [.. Enumerable.Range(0, 0x21).Select(c => (char)c)];

    static readonly IdnMapping Idna = new() { AllowUnassigned = false, UseStd3AsciiRules = false };

    /// <summary>The absolute URL <paramref name="location"/> names, relative to <paramref name="current"/>.</summary>
    public static Uri Resolve(Uri current, string location)
    {
        // WHATWG: tabs and newlines anywhere are dropped, leading and trailing C0 controls and spaces trimmed.
        var value = new string(location.Where(c => c is not ('\t' or '\n' or '\r')).ToArray()).Trim(C0AndSpace);
        string absolute;
        if (SchemeAndRest().Match(value) is { Success: true } match)
        {
            var scheme = match.Groups[1].Value.ToLowerInvariant();
            var rest = match.Groups[2].Value.Replace('\\', '/');
            if (scheme is not ("http" or "https"))
            {
                throw Failure(location, $"it is a {scheme}: URL, and only http and https are followed");
            }

            // "http:/x" on an http page is a path on the same host (the standard's "special relative" case); with
            // two slashes or more, or another scheme, what follows the slashes is the authority.
            absolute = scheme == current.Scheme && !rest.StartsWith("//", StringComparison.Ordinal)
                ? Relative(current, rest, location)
                : $"{scheme}://{rest.TrimStart('/')}";
        }
        else
        {
            var rest = value.Replace('\\', '/');
            absolute = rest.StartsWith("//", StringComparison.Ordinal) ? $"{current.Scheme}://{rest.TrimStart('/')}" : Relative(current, rest, location);
        }

        return WithMappedHost(absolute, location);
    }

    static string Relative(Uri current, string reference, string location) =>
        Uri.TryCreate(current, reference, out var resolved) ? resolved.AbsoluteUri : throw Failure(location, "it is not a valid relative reference");

    /// <summary>Parses <paramref name="absolute"/>, its host percent-decoded and mapped with UTS #46 first.</summary>
    static Uri WithMappedHost(string absolute, string location)
    {
        var authorityStart = absolute.IndexOf("://", StringComparison.Ordinal) + 3;
        var authorityEnd = absolute.IndexOfAny(['/', '?', '#'], authorityStart);
        var authority = authorityEnd < 0 ? absolute[authorityStart..] : absolute[authorityStart..authorityEnd];
        var at = authority.LastIndexOf('@');
        var hostAndPort = authority[(at + 1)..];
        var portAt = hostAndPort.StartsWith('[') ? hostAndPort.IndexOf("]:", StringComparison.Ordinal) + 1 : hostAndPort.LastIndexOf(':');
        var host = portAt > 0 ? hostAndPort[..portAt] : hostAndPort;
        if (host.Length == 0)
        {
            throw Failure(location, "it names no host");
        }

        var mapped = host.StartsWith('[') ? host : Map(Uri.UnescapeDataString(host), location);
        var rebuilt = absolute[..authorityStart] + authority[..(at + 1)] + mapped + (portAt > 0 ? hostAndPort[portAt..] : "")
            + (authorityEnd < 0 ? "" : absolute[authorityEnd..]);
        return Uri.TryCreate(rebuilt, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.IdnHost.Length > 0
            ? uri
            : throw Failure(location, "it is not a valid URL");
    }

    static string Map(string host, string location)
    {
        try
        {
            // UTS #46: width and compatibility forms folded, dots of other scripts as dots, case mapped.
            return Idna.GetAscii(Fold(host)).ToLowerInvariant();
        }
        catch (ArgumentException)
        {
            throw Failure(location, "its host is not a valid name");
        }
    }

    /// <summary>
    /// The UTS #46 mappings that change what an address spelling means: fullwidth ASCII forms, the ideographic and
    /// fullwidth full stops, and circled letters and digits, folded to ASCII. (The service runs with invariant
    /// globalization, without ICU's full NFKC tables, so these are folded here; everything else goes to IdnMapping.)
    /// </summary>
    public static string Fold(string host) => string.Create(host.Length, host, static (span, source) =>
    {
        for (var i = 0; i < source.Length; i++)
        {
            var c = source[i];
            span[i] = c switch
            {
                >= '\uFF01' and <= '\uFF5E' => (char)(c - 0xFEE0),
                '\u3002' or '\uFF61' => '.',
                >= '\u24D0' and <= '\u24E9' => (char)('a' + (c - '\u24D0')),
                >= '\u24B6' and <= '\u24CF' => (char)('a' + (c - '\u24B6')),
                >= '\u2460' and <= '\u2468' => (char)('1' + (c - '\u2460')),
                '\u24EA' => '0',
                _ => c,
            };
        }
    });

    static FetchFailureException Failure(string location, string why) =>
        new(FetchErrorCode.ProtocolError, $"the redirect's Location '{location.Replace('\t', ' ').ReplaceLineEndings(" ")}' cannot be followed: {why}");
}
