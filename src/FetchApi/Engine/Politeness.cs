using System.Reflection;
using FetchApi.Engine.Rates;
using FetchApi.Model;
using FetchApi.Telemetry;
using Microsoft.Extensions.Options;

namespace FetchApi.Engine;

/// <summary>
/// What every request start asks first: whether robots.txt lets us (when the batch respects it), and when the host's
/// rate lets it start. The rate is the strictest of <c>Engine:PerHostRequestsPerSecond</c>, the batch's
/// <c>perHostRequestsPerSecond</c>, the host's <c>Crawl-delay</c> (when robots.txt is respected) and, while the host
/// pushes back, its adaptive slow-down (<see cref="HostRates.Observe"/>). Rates, robots.txt and slow-downs are kept
/// per node: with several nodes each holds its own (see docs/scale-out.md). Both tables forget idle hosts
/// (<see cref="Hosts.HostSweeper"/>); their sizes are the gauge <c>fetchapi.hosts.tracked</c>.
/// </summary>
public sealed class Politeness(HostRates rates, RobotsCache robots, IOptions<EngineOptions> options, TimeProvider time, FetchMetrics metrics)
{
    /// <summary>The User-Agent when <c>Engine:UserAgent</c> is not set: our product token and version, and how to reach the operator.</summary>
    public static readonly string DefaultUserAgent =
        $"FetchApi/{typeof(Politeness).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "2"} " +
        "(+operator: set Engine:UserAgent to a contact URL)";

    readonly EngineOptions _options = Register(options.Value, metrics, rates, robots);

    static EngineOptions Register(EngineOptions options, FetchMetrics metrics, HostRates rates, RobotsCache robots)
    {
        metrics.ObservePoliteness(() => rates.SlowedHosts, () => robots.Fetches);
        metrics.ObserveHosts("rates", () => rates.Hosts);
        metrics.ObserveHosts("robots", () => robots.Origins);
        return options;
    }

    /// <summary>The request rate for a batch's requests to one host: the stricter of the service's ceiling and the batch's own.</summary>
    public double RateFor(FetchOptions fetch) =>
        (_options.PerHostRequestsPerSecond, fetch.PerHostRequestsPerSecond ?? 0) switch
        {
            (> 0 and var ceiling, > 0 and var asked) => Math.Min(ceiling, asked),
            (> 0 and var ceiling, _) => ceiling,
            (_, var asked) => asked,
        };

    /// <summary>
    /// Waits until <paramref name="uri"/> may be requested; throws <c>robots_disallowed</c> when robots.txt forbids it.
    /// Returns the host's key, for <see cref="Observe"/> of the same request.
    /// </summary>
    public async ValueTask<string> BeforeRequestAsync(Uri uri, FetchOptions fetch, IHostHolds? holds, CancellationToken cancellationToken)
    {
        var rate = RateFor(fetch);
        if (fetch.RespectRobotsTxt)
        {
            var rules = await robots.GetAsync(uri, rate, cancellationToken);
            if (!rules.IsAllowed(uri.PathAndQuery))
            {
                throw new FetchFailureException(FetchErrorCode.RobotsDisallowed, rules.DisallowsAll
                    ? $"robots.txt of {uri.Scheme}://{uri.Authority} could not be read (server error or unreachable), which disallows every path for now"
                    : $"robots.txt of {uri.Scheme}://{uri.Authority} disallows {uri.PathAndQuery} for {Robots.RobotsTxt.ProductToken(_options.UserAgent)}");
            }

            if (rules.CrawlDelay is { TotalSeconds: > 0 } delay && (rate <= 0 || 1 / delay.TotalSeconds < rate))
            {
                rate = 1 / delay.TotalSeconds;
            }
        }

        var host = HostOf(uri);
        var now = time.GetUtcNow();
        var wait = rates.Reserve(host, rate, now);
        if (rates.NextFree(host, now) - now is { Ticks: > 0 } paced)
        {
            holds?.Pace(host, paced);
        }

        while (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, time, cancellationToken);
            // Woken late together with others (a busy machine): start one interval after the last actual start.
            wait = rates.Start(host, rate, time.GetUtcNow());
        }

        return host;
    }

    /// <summary>Feeds the adaptive slow-down with one answer of <paramref name="host"/> (the key <see cref="BeforeRequestAsync"/> returned).</summary>
    public void Observe(string host, int status, bool retryAfterGiven, TimeSpan latency)
    {
        if (rates.Observe(host, status, retryAfterGiven, latency, time.GetUtcNow()) && status is 429 or 503 && !retryAfterGiven)
        {
            metrics.SlowedDown();
        }
    }

    /// <summary>The scheduler's host key: host and port.</summary>
    static string HostOf(Uri uri) => $"{uri.IdnHost}:{uri.Port}";
}
