using System.Globalization;
using System.Text;

namespace FetchApi.Engine.Robots;

/// <summary>
/// The rules of one robots.txt for one crawler, as RFC 9309 defines them: the group whose user-agent matches the
/// crawler's product token (case-insensitively), else the <c>*</c> group, else none; groups naming the same agent are
/// merged; the longest matching <c>allow</c>/<c>disallow</c> pattern wins, <c>allow</c> on a tie; <c>*</c> matches any
/// run of characters and a final <c>$</c> the end of the path; <c>/robots.txt</c> is always allowed. Pure: no I/O.
/// </summary>
public sealed class RobotsTxt
{
    /// <summary>RFC 9309 §2.5: crawlers must parse at least 500 KiB; what follows is ignored.</summary>
    public const int ParseLimitBytes = 500 * 1024;

    readonly IReadOnlyList<Rule> _rules;

    RobotsTxt(IReadOnlyList<Rule> rules, TimeSpan? crawlDelay, bool disallowAll)
    {
        _rules = rules;
        CrawlDelay = crawlDelay;
        DisallowsAll = disallowAll;
    }

    /// <summary>No robots.txt (4xx): everything is allowed (RFC 9309 §2.3.1.3).</summary>
    public static RobotsTxt AllowAll { get; } = new([], null, disallowAll: false);

    /// <summary>robots.txt unreachable (5xx, network error): everything is disallowed for now (RFC 9309 §2.3.1.4).</summary>
    public static RobotsTxt DisallowAll { get; } = new([], null, disallowAll: true);

    /// <summary>The non-standard <c>Crawl-delay</c> of the matching group, when it gave one.</summary>
    public TimeSpan? CrawlDelay { get; }

    public bool DisallowsAll { get; }

    /// <summary>A pattern and whether it allows; <see cref="Length"/> is what "longest match" compares.</summary>
    readonly record struct Rule(bool Allow, string Pattern)
    {
        public int Length => Pattern.Length;
    }

    /// <summary>Reads a robots.txt body (UTF-8, the first <see cref="ParseLimitBytes"/> bytes) for the crawler <paramref name="productToken"/>.</summary>
    public static RobotsTxt Parse(ReadOnlySpan<byte> body, string productToken)
    {
        var text = Encoding.UTF8.GetString(body[..Math.Min(body.Length, ParseLimitBytes)]);
        if (text.StartsWith('\uFEFF'))
        {
            text = text[1..];
        }

        var ours = new List<Rule>();
        var anyone = new List<Rule>();
        TimeSpan? ourDelay = null, anyoneDelay = null;
        bool foundOurs = false, foundAnyone = false;
        // The agents of the group being read; a rule line after agent lines closes the list of agents.
        bool groupIsOurs = false, groupIsAnyone = false, readingAgents = false;
        foreach (var rawLine in text.Split('\n'))
        {
            var line = rawLine;
            var hash = line.IndexOf('#', StringComparison.Ordinal);
            if (hash >= 0)
            {
                line = line[..hash];
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                continue;
            }

            var key = line[..colon].Trim().ToLowerInvariant();
            var value = line[(colon + 1)..].Trim();
            if (key is "user-agent")
            {
                if (!readingAgents)
                {
                    (groupIsOurs, groupIsAnyone, readingAgents) = (false, false, true);
                }

                if (value == "*")
                {
                    groupIsAnyone = foundAnyone = true;
                }
                else if (AgentMatches(value, productToken))
                {
                    groupIsOurs = foundOurs = true;
                }

                continue;
            }

            readingAgents = false;
            if (key is "allow" or "disallow")
            {
                // An empty disallow allows everything: it adds no rule.
                if (value.Length == 0)
                {
                    continue;
                }

                var rule = new Rule(key == "allow", Normalize(value));
                if (groupIsOurs)
                {
                    ours.Add(rule);
                }

                if (groupIsAnyone)
                {
                    anyone.Add(rule);
                }
            }
            else if (key is "crawl-delay" && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds)
                     && seconds >= 0 && double.IsFinite(seconds))
            {
                var delay = TimeSpan.FromSeconds(Math.Min(seconds, 86_400));
                ourDelay = groupIsOurs ? delay : ourDelay;
                anyoneDelay = groupIsAnyone ? delay : anyoneDelay;
            }
        }

        return foundOurs ? new RobotsTxt(ours, ourDelay, false)
            : foundAnyone ? new RobotsTxt(anyone, anyoneDelay, false)
            : AllowAll;
    }

    /// <summary>RFC 9309 §2.2.1: the product token matches the user-agent value case-insensitively (a value like <c>FetchApi/2.0</c> names it too).</summary>
    static bool AgentMatches(string value, string productToken) =>
        ProductToken(value) is { Length: > 0 } token && token.Equals(productToken, StringComparison.OrdinalIgnoreCase);

    /// <summary>The product token of a User-Agent or user-agent line: <c>FetchApi</c> of <c>FetchApi/2.0 (+...)</c>.</summary>
    public static string ProductToken(string userAgent)
    {
        var end = userAgent.IndexOfAny([' ', '/', '\t']);
        return end < 0 ? userAgent : userAgent[..end];
    }

    /// <summary>Whether the crawler may fetch <paramref name="pathAndQuery"/> (the URL's path and query, percent-encoded as sent).</summary>
    public bool IsAllowed(string pathAndQuery)
    {
        var path = Normalize(pathAndQuery.Length == 0 ? "/" : pathAndQuery);
        if (path == "/robots.txt")
        {
            return true;
        }

        if (DisallowsAll)
        {
            return false;
        }

        Rule? best = null;
        foreach (var rule in _rules)
        {
            if ((best is null || rule.Length > best.Value.Length || (rule.Length == best.Value.Length && rule.Allow && !best.Value.Allow))
                && Matches(rule.Pattern, path))
            {
                best = rule;
            }
        }

        return best?.Allow ?? true;
    }

    /// <summary>
    /// Whether the pattern matches the path from its start: <c>*</c> matches any run of characters, a final <c>$</c>
    /// the end of the path; without <c>$</c> the pattern only has to match a prefix.
    /// </summary>
    static bool Matches(string pattern, string path)
    {
        var p = pattern.EndsWith('$') ? pattern[..^1] : pattern + "*";
        // Wildcard matching with backtracking to the last '*': linear in practice, O(path × pattern) at worst.
        int i = 0, j = 0, star = -1, resume = 0;
        while (i < path.Length)
        {
            if (j < p.Length && p[j] == '*')
            {
                star = j++;
                resume = i;
            }
            else if (j < p.Length && p[j] == path[i])
            {
                i++;
                j++;
            }
            else if (star >= 0)
            {
                j = star + 1;
                i = ++resume;
            }
            else
            {
                return false;
            }
        }

        while (j < p.Length && p[j] == '*')
        {
            j++;
        }

        return j == p.Length;
    }

    /// <summary>
    /// RFC 9309 §2.2.2: compare percent-encoded forms, with %XX of unreserved characters decoded, other octets and
    /// non-ASCII characters encoded, and hex digits in upper case.
    /// </summary>
    static string Normalize(string value)
    {
        var result = new StringBuilder(value.Length);
        var bytes = Encoding.UTF8.GetBytes(value);
        for (var i = 0; i < bytes.Length; i++)
        {
            var b = bytes[i];
            if (b == '%' && i + 2 < bytes.Length && IsHex(bytes[i + 1]) && IsHex(bytes[i + 2]))
            {
                var decoded = (byte)Convert.ToInt32(Encoding.ASCII.GetString(bytes, i + 1, 2), 16);
                if (IsUnreserved(decoded))
                {
                    result.Append((char)decoded);
                }
                else
                {
                    result.Append('%').Append(char.ToUpperInvariant((char)bytes[i + 1])).Append(char.ToUpperInvariant((char)bytes[i + 2]));
                }

                i += 2;
            }
            else if (b is <= 0x20 or >= 0x7F)
            {
                result.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
            else
            {
                result.Append((char)b);
            }
        }

        return result.ToString();
    }

    static bool IsHex(byte b) => b is >= (byte)'0' and <= (byte)'9' or >= (byte)'a' and <= (byte)'f' or >= (byte)'A' and <= (byte)'F';

    static bool IsUnreserved(byte b) =>
        b is >= (byte)'a' and <= (byte)'z' or >= (byte)'A' and <= (byte)'Z' or >= (byte)'0' and <= (byte)'9' or (byte)'-' or (byte)'.' or (byte)'_' or (byte)'~';
}
