using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace FetchApi.Urls;

/// <summary>A DNS lookup: <see cref="Dns.GetHostAddressesAsync(string, CancellationToken)"/> in the service, a table in tests.</summary>
public delegate Task<IPAddress[]> HostLookup(string host, CancellationToken cancellationToken);

/// <summary>
/// Resolves the names of one check, each once, a few at a time, each lookup and the whole request time-bounded
/// (<see cref="UrlCheckOptions"/>). Asks DNS only: nothing is ever connected to.
/// </summary>
public sealed class NameResolver(HostLookup lookup, IOptions<UrlCheckOptions> options, TimeProvider time)
{
    readonly UrlCheckOptions _options = options.Value;

    /// <summary>What DNS said about each of <paramref name="hosts"/>; every host gets an answer, a failure included.</summary>
    public async Task<IReadOnlyDictionary<string, HostResolution>> ResolveAsync(IReadOnlyCollection<string> hosts, CancellationToken cancellationToken)
    {
        var answers = new ConcurrentDictionary<string, HostResolution>(StringComparer.OrdinalIgnoreCase);
        using var budget = new CancellationTokenSource(_options.ResolveBudget, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, budget.Token);
        try
        {
            await Parallel.ForEachAsync(hosts, new ParallelOptions { MaxDegreeOfParallelism = _options.ResolveConcurrency, CancellationToken = linked.Token },
                async (host, ct) => answers[host] = await LookupAsync(host, ct));
        }
        catch (OperationCanceledException) when (budget.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            // The budget ran out: the hosts without an answer say so below.
        }

        var outOfTime = new HostResolution([], $"this check's time for DNS ({Seconds(_options.ResolveBudget)}) ran out");
        foreach (var host in hosts)
        {
            answers.TryAdd(host, outOfTime);
        }

        return answers;
    }

    async Task<HostResolution> LookupAsync(string host, CancellationToken cancellationToken)
    {
        try
        {
            var addresses = await lookup(host, cancellationToken).WaitAsync(_options.ResolveTimeout, time, cancellationToken);
            return addresses.Length == 0 ? new HostResolution([], "no addresses") : new HostResolution(addresses, null);
        }
        catch (TimeoutException)
        {
            return new HostResolution([], $"no answer within {Seconds(_options.ResolveTimeout)}");
        }
        catch (SocketException e)
        {
            return new HostResolution([], e.SocketErrorCode == SocketError.HostNotFound ? "no such host" : e.Message);
        }
        catch (ArgumentException e)
        {
            return new HostResolution([], e.Message); // a name DNS cannot hold (a label over 63 characters, ...)
        }
    }

    static string Seconds(TimeSpan span) => span.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s";
}
