using System.Globalization;
using System.Text;

namespace FetchApi.Http;

/// <summary>Request headers whose grammar an RFC or draft fixes: <c>Prefer</c> (RFC 7240) and <c>Idempotency-Key</c>.</summary>
public static class Preferences
{
    /// <summary>
    /// <c>Prefer: wait=N</c>, capped at <paramref name="max"/>; null when absent or malformed. RFC 7240 §2: preferences are
    /// comma-separated, a value is a token or a quoted string (<c>wait="5"</c>), and parameters after <c>;</c> may follow.
    /// </summary>
    public static TimeSpan? Wait(string? prefer, TimeSpan max)
    {
        foreach (var preference in Split(prefer ?? "", ','))
        {
            var first = Split(preference, ';').FirstOrDefault() ?? "";
            var equals = first.IndexOf('=', StringComparison.Ordinal);
            var name = (equals < 0 ? first : first[..equals]).Trim();
            if (!name.Equals("wait", StringComparison.OrdinalIgnoreCase) || equals < 0)
            {
                continue;
            }

            if (Unquote(first[(equals + 1)..].Trim()) is { } value
                && int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds > 0)
            {
                return TimeSpan.FromSeconds(Math.Min(seconds, max.TotalSeconds));
            }
        }

        return null;
    }

    /// <summary>
    /// The key of an <c>Idempotency-Key</c> header: the draft defines it as a structured-field string (<c>"k"</c>), and bare
    /// keys (<c>k</c>) are common, so both name the same key. Null unless the key is 1 to 255 visible ASCII characters.
    /// </summary>
    public static string? IdempotencyKey(string header)
    {
        var trimmed = header.Trim();
        var key = trimmed.StartsWith('"') ? Unquote(trimmed) : trimmed;
        return key is { Length: > 0 and <= 255 } && key.All(c => c is >= '!' and <= '~') ? key : null;
    }

    /// <summary>A quoted string's content (backslash escapes removed), the value itself when not quoted, null when unbalanced.</summary>
    static string? Unquote(string value)
    {
        if (!value.StartsWith('"'))
        {
            return value;
        }

        var content = new StringBuilder();
        for (var i = 1; i < value.Length; i++)
        {
            switch (value[i])
            {
                case '\\' when i + 1 < value.Length:
                    content.Append(value[++i]);
                    break;
                case '"':
                    return i == value.Length - 1 ? content.ToString() : null;
                default:
                    content.Append(value[i]);
                    break;
            }
        }

        return null;
    }

    /// <summary>Splits on <paramref name="separator"/> outside quoted strings; empty parts are dropped.</summary>
    static IEnumerable<string> Split(string value, char separator)
    {
        var start = 0;
        var quoted = false;
        for (var i = 0; i <= value.Length; i++)
        {
            if (i < value.Length && value[i] == '\\' && quoted)
            {
                i++;
            }
            else if (i < value.Length && value[i] == '"')
            {
                quoted = !quoted;
            }
            else if (i == value.Length || (value[i] == separator && !quoted))
            {
                if (value[start..i].Trim() is { Length: > 0 } part)
                {
                    yield return part;
                }

                start = i + 1;
            }
        }
    }
}
