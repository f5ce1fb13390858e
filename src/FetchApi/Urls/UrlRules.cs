using FluentValidation;

namespace FetchApi.Urls;

/// <summary>
/// How many URLs one request may hold and how long each may be. Set by the feature that owns the configuration keys
/// (<c>Batches:MaxUrlsPerBatch</c>, <c>Batches:MaxUrlLength</c>), so that <c>POST /urls/check</c> takes exactly what
/// <c>POST /batches</c> takes.
/// </summary>
public sealed class UrlLimits
{
    public int MaxUrls { get; set; } = 10_000;
    public int MaxUrlLength { get; set; } = 8_192;

    /// <summary>Whether <paramref name="urls"/> has an acceptable number of entries, so that each one is worth judging.</summary>
    public bool Admits(List<string?>? urls) => urls is { Count: > 0 } && urls.Count <= MaxUrls;
}

/// <summary>What makes a URL fetchable by us, checked before anything is stored; shared by <c>POST /batches</c> and <c>POST /urls/check</c>.</summary>
public static class UrlRules
{
    /// <summary>Why <paramref name="url"/> cannot be fetched (a predicate: "has scheme 'ftp'; ..."), or null when it can.</summary>
    public static string? Problem(string? url, int maxLength)
    {
        if (string.IsNullOrWhiteSpace(url))
        {
            return "must be an absolute http or https URL; it is empty.";
        }

        if (url.Length > maxLength)
        {
            return $"is {url.Length} characters long; at most {maxLength} are allowed.";
        }

        foreach (var c in url)
        {
            // A loop, not LINQ: this runs for every character of every URL of a batch (issue 16).
            if (char.IsControl(c) || char.IsWhiteSpace(c))
            {
                return "must not contain spaces or control characters (CR, LF, NUL, ...); percent-encode them.";
            }
        }

        if (!url.Contains("://", StringComparison.Ordinal) || !Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            return "is not an absolute URL (expected http://host/... or https://host/...), or its host or port is invalid.";
        }

        if (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
        {
            return $"has scheme '{uri.Scheme}'; only http and https are fetched.";
        }

        var authorityStart = url.IndexOf("://", StringComparison.Ordinal) + 3;
        var authorityEnd = url.IndexOfAny(['/', '?', '#'], authorityStart);
        var authority = url.AsSpan(authorityStart, (authorityEnd < 0 ? url.Length : authorityEnd) - authorityStart);
        if (uri.UserInfo.Length > 0 || authority.Contains('@'))
        {
            return "must not contain user-info (user:password@); send credentials in options.headers instead.";
        }

        return string.IsNullOrEmpty(uri.Host) ? "has no host." : null;
    }

    /// <summary>
    /// The shape of a <c>urls</c> list: present, at least one URL, at most <see cref="UrlLimits.MaxUrls"/>. Errors are
    /// keyed <c>urls</c>; what each URL holds is judged separately (a 400 for a batch, a verdict for a check).
    /// </summary>
    public static IRuleBuilderOptions<T, List<string?>?> UrlList<T>(this IRuleBuilderInitial<T, List<string?>?> rule, UrlLimits limits, string per) =>
        rule.Cascade(CascadeMode.Stop)
            .NotNull().WithMessage("'urls' is required: a list of absolute http or https URLs.")
            .Must(u => u!.Count > 0).WithMessage("'urls' must hold at least one URL.")
            .Must(u => u!.Count <= limits.MaxUrls)
            .WithMessage((_, u) => $"'urls' holds {u!.Count} URLs; at most {limits.MaxUrls} are allowed {per}.")
            .OverridePropertyName("urls");
}
