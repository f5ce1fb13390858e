using System.Net;
using FetchApi.Security;

namespace FetchApi.Urls;

/// <summary>
/// The verdict on each URL, decided as the service would decide it when the URL is submitted and fetched: the batch
/// validator's URL rules, then the outbound address policy on the host the engine connects to. Synchronous, no I/O:
/// a name that needs DNS stays undecided here (<see cref="UrlCheck.Addresses"/> null) until <see cref="Resolved"/>.
/// </summary>
public sealed class UrlVerdicts(AddressPolicy policy)
{
    const string LocalhostRule = "localhost names always mean loopback (RFC 6761) and are never looked up";

    /// <summary>One verdict per URL, in order; duplicates point at the first URL with the same normalized form.</summary>
    public IReadOnlyList<UrlCheck> Check(IReadOnlyList<string?> urls, int maxUrlLength)
    {
        var results = new UrlCheck[urls.Count];
        var firstIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < urls.Count; i++)
        {
            var url = urls[i];
            var problem = UrlRules.Problem(url, maxUrlLength);
            if (problem is not null || NormalizedUrl.Parse(url) is not { } normalized)
            {
                results[i] = new UrlCheck
                {
                    Index = i, Url = url, Verdict = UrlVerdict.Invalid, Reason = $"The URL {problem ?? "is not a URL."}",
                    Normalized = null, Host = null, Port = null, DuplicateOf = null, Addresses = null,
                };
                continue;
            }

            int? duplicateOf = firstIndex.TryAdd(normalized.Value, i) ? null : firstIndex[normalized.Value];
            results[i] = Judge(new UrlCheck
            {
                Index = i, Url = url, Verdict = UrlVerdict.Allowed, Reason = "", Normalized = normalized.Value,
                Host = normalized.Host, Port = normalized.Port, DuplicateOf = duplicateOf, Addresses = null,
            }, normalized.HostIsAddress);
        }

        return results;
    }

    /// <summary>Whether <paramref name="check"/> is about a name whose addresses only DNS can tell.</summary>
    public static bool NeedsDns(UrlCheck check) => check.Verdict != UrlVerdict.Invalid && check.Addresses is null;

    UrlCheck Judge(UrlCheck check, bool hostIsAddress)
    {
        var host = check.Host!;
        var decision = policy.DecideConnectHost(host);
        if (decision.Verdict == HostVerdict.NeedsDns)
        {
            return check with
            {
                Reason = $"{host} is a name: every address it resolves to is checked when it is fetched (resolve: true checks them now)",
            };
        }

        var address = decision.Address!;
        var explanation = policy.Judge(address).ToString();
        return check with
        {
            Verdict = decision.Verdict == HostVerdict.Refused ? UrlVerdict.Blocked : UrlVerdict.Allowed,
            Reason = hostIsAddress ? explanation : $"{LocalhostRule}: {explanation}",
            Addresses = [address.ToString()],
        };
    }

    /// <summary>The verdict on a name once DNS answered: blocked when any address is refused, as at connect time.</summary>
    public UrlCheck Resolved(UrlCheck check, HostResolution resolution)
    {
        var host = check.Host!;
        if (resolution.Failure is { } failure)
        {
            return check with
            {
                Reason = $"{host} did not resolve ({failure}), so no address could be judged; a fetch fails with dns_failure unless it resolves then",
                Addresses = [],
            };
        }

        var addresses = resolution.Addresses;
        var list = string.Join(", ", addresses);
        var judgements = addresses.Select(policy.Judge).ToList();
        var refused = judgements.FirstOrDefault(j => j.Refused);
        var opened = judgements.Where(j => j.Opened).ToList();
        var reason = refused is not null
            ? $"{host} resolves to {list}; {refused}"
            : opened.Count == 0
                ? $"{host} resolves to {list}, none of them in a refused range"
                : $"{host} resolves to {list}; {string.Join("; ", opened)}";
        return check with
        {
            Verdict = refused is null ? UrlVerdict.Allowed : UrlVerdict.Blocked,
            Reason = reason,
            Addresses = [.. addresses.Select(a => a.ToString())],
        };
    }
}

/// <summary>What DNS said about a name: its addresses, or why there are none.</summary>
public sealed record HostResolution(IReadOnlyList<IPAddress> Addresses, string? Failure);
