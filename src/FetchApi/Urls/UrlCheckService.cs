using Microsoft.Extensions.Options;

namespace FetchApi.Urls;

/// <summary><c>POST /urls/check</c> behind the endpoint: verdicts without I/O, then (when asked) DNS for the names. Nothing is stored or fetched.</summary>
public sealed class UrlCheckService(UrlVerdicts verdicts, NameResolver resolver, IOptions<UrlLimits> limits)
{
    public async Task<UrlCheckReport> CheckAsync(IReadOnlyList<string?> urls, bool resolve, CancellationToken cancellationToken)
    {
        var results = verdicts.Check(urls, limits.Value.MaxUrlLength);
        var names = results.Where(UrlVerdicts.NeedsDns).Select(r => r.Host!).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        if (!resolve || names.Count == 0)
        {
            return UrlCheckReport.Of(results);
        }

        var answers = await resolver.ResolveAsync(names, cancellationToken);
        return UrlCheckReport.Of([.. results.Select(r => UrlVerdicts.NeedsDns(r) ? verdicts.Resolved(r, answers[r.Host!]) : r)]);
    }
}
