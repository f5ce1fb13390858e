using System.Buffers;
using FetchApi.Engine.Rates;
using FetchApi.Engine.Robots;
using Microsoft.Extensions.Options;

namespace FetchApi.Engine;

/// <summary>
/// Each origin's robots.txt (scheme, host and port), fetched once and shared by every batch for
/// <c>Engine:RobotsCacheDuration</c>. RFC 9309 §2.3: 2xx is parsed (first 500 KiB), 4xx allows everything, 5xx or an
/// unreachable server disallows everything and is asked again after <see cref="ErrorRetry"/>; up to five redirects are
/// followed, under the address policy like any fetch. Concurrent askers share one request.
/// <para>
/// An origin's entry is made on its first ask and removed by <see cref="Sweep"/> once expired. Entries are made in the
/// order they expire (one cache duration after the ask; an error's shorter expiry only ends it sooner), so a queue in
/// that order tells the sweep which ones are due: an ask never scans the table, and a sweep looks only at what is due.
/// </para>
/// </summary>
public sealed class RobotsCache(IHttpClientFactory clients, IOptions<EngineOptions> options, HostRates rates, TimeProvider time)
    : Hosts.IHostTable
{
    /// <summary>How soon an unreachable robots.txt is asked again (never later than the cache duration).</summary>
    public static readonly TimeSpan ErrorRetry = TimeSpan.FromMinutes(1);

    const int MaxRedirects = 5;

    /// <summary>How many due entries one <see cref="Sweep"/> looks at per hold of the lock, so askers never wait long for it.</summary>
    const int SweepChunk = 1024;
    static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    sealed record Entry(Task<RobotsTxt> Rules, DateTimeOffset Expires);

    readonly HttpClient _client = clients.CreateClient(Fetcher.ClientName);
    readonly EngineOptions _options = options.Value;
    readonly Dictionary<string, Entry> _entries = [];
    /// <summary>Every entry once, in the order it was made, with when it is due to be looked at (its first expiry).</summary>
    readonly Queue<(string Origin, Task<RobotsTxt> Rules, DateTimeOffset Due)> _reviews = new();
    readonly Lock _gate = new();
    /// <summary>The most entries since the tables were last trimmed: emptied tables give their arrays back too.</summary>
    int _mostSinceTrim;
    readonly string _productToken = RobotsTxt.ProductToken(options.Value.UserAgent);
    long _fetches;

    /// <summary>robots.txt requests made (each origin once per cache period): what tests and metrics count.</summary>
    public long Fetches => Interlocked.Read(ref _fetches);

    /// <summary>Origins with an entry now (fetched, being fetched, or expired and not yet swept).</summary>
    public int Origins
    {
        get
        {
            lock (_gate)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>The rules for <paramref name="uri"/>'s origin; fetched (at <paramref name="requestsPerSecond"/> for the host) when not cached.</summary>
    public Task<RobotsTxt> GetAsync(Uri uri, double requestsPerSecond, CancellationToken cancellationToken)
    {
        var origin = $"{uri.Scheme}://{uri.IdnHost}:{uri.Port}";
        var now = time.GetUtcNow();
        Entry entry;
        lock (_gate)
        {
            if (!_entries.TryGetValue(origin, out entry!) || (entry.Rules.IsCompleted && entry.Expires <= now))
            {
                var fetched = FetchAsync(new Uri($"{origin}/robots.txt"), requestsPerSecond);
                entry = new Entry(fetched, now + _options.RobotsCacheDuration);
                _entries[origin] = entry;
                _reviews.Enqueue((origin, fetched, entry.Expires));
                _ = fetched.ContinueWith(t => Expire(origin, entry, t.Result), CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously | TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
            }
        }

        // One asker giving up does not stop the request the others wait for.
        return entry.Rules.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Removes the entries that have expired, looking only at those due (the front of the queue), a chunk per hold of
    /// the lock. An entry whose request still runs (a slow host, or one paced by its rate) is looked at again one cache
    /// duration later; one replaced by a newer ask is left to the newer one's turn.
    /// </summary>
    public void Sweep(DateTimeOffset now)
    {
        for (var more = true; more;)
        {
            lock (_gate)
            {
                more = false;
                _mostSinceTrim = Math.Max(_mostSinceTrim, _entries.Count);
                for (var looked = 0; _reviews.TryPeek(out var due) && due.Due <= now; looked++)
                {
                    if (looked == SweepChunk)
                    {
                        more = true;
                        break;
                    }

                    _reviews.Dequeue();
                    if (!_entries.TryGetValue(due.Origin, out var current) || current.Rules != due.Rules)
                    {
                        continue;
                    }

                    if (!current.Rules.IsCompleted)
                    {
                        _reviews.Enqueue(due with { Due = now + _options.RobotsCacheDuration });
                    }
                    else if (current.Expires <= now)
                    {
                        _entries.Remove(due.Origin);
                    }
                    else
                    {
                        _reviews.Enqueue(due with { Due = current.Expires });
                    }
                }

                if (!more)
                {
                    TrimIfEmptied();
                }
            }
        }
    }

    /// <summary>
    /// Once a table holds under a quarter of its most since the last trim (and that most was large), its arrays shrink:
    /// a dictionary and a queue keep their largest size otherwise, and 100,000 hosts gone would keep megabytes.
    /// </summary>
    void TrimIfEmptied()
    {
        if (_mostSinceTrim > 4096 && _entries.Count < _mostSinceTrim / 4)
        {
            _entries.TrimExcess();
            _reviews.TrimExcess();
            _mostSinceTrim = _entries.Count;
        }
    }

    /// <summary>An unreachable robots.txt is kept for a short while only.</summary>
    void Expire(string origin, Entry entry, RobotsTxt rules)
    {
        if (!rules.DisallowsAll)
        {
            return;
        }

        lock (_gate)
        {
            if (_entries.TryGetValue(origin, out var current) && ReferenceEquals(current, entry))
            {
                var retry = ErrorRetry < _options.RobotsCacheDuration ? ErrorRetry : _options.RobotsCacheDuration;
                _entries[origin] = entry with { Expires = time.GetUtcNow() + retry };
            }
        }
    }

    async Task<RobotsTxt> FetchAsync(Uri robots, double requestsPerSecond)
    {
        await Task.Yield();
        Interlocked.Increment(ref _fetches);
        using var timeout = new CancellationTokenSource(RequestTimeout, time);
        try
        {
            var uri = robots;
            for (var redirects = 0; ; redirects++)
            {
                // The robots.txt request obeys the host's rate like any other request start.
                var wait = rates.Reserve($"{uri.IdnHost}:{uri.Port}", requestsPerSecond, time.GetUtcNow());
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, time, timeout.Token);
                }

                using var response = await _client.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                var status = (int)response.StatusCode;
                if (status is 301 or 302 or 303 or 307 or 308 && response.Headers.Location is { } location)
                {
                    var next = location.IsAbsoluteUri ? location : new Uri(uri, location);
                    if (redirects >= MaxRedirects || (next.Scheme != Uri.UriSchemeHttp && next.Scheme != Uri.UriSchemeHttps))
                    {
                        return RobotsTxt.AllowAll; // RFC 9309 §2.3.1.2: past five redirects, treat it as unavailable
                    }

                    uri = next;
                    continue;
                }

                return status switch
                {
                    >= 200 and < 300 => RobotsTxt.Parse(await ReadAsync(response, timeout.Token), _productToken),
                    >= 400 and < 500 => RobotsTxt.AllowAll,
                    _ => RobotsTxt.DisallowAll,
                };
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException or UriFormatException)
        {
            // A host refused by the address policy fails its own fetch with blocked_address; anything else unreachable
            // means "disallow everything for now".
            return ex.InnerException is Security.BlockedAddressException ? RobotsTxt.AllowAll : RobotsTxt.DisallowAll;
        }
    }

    static async Task<byte[]> ReadAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        var buffer = new ArrayBufferWriter<byte>();
        while (buffer.WrittenCount < RobotsTxt.ParseLimitBytes)
        {
            var read = await stream.ReadAsync(buffer.GetMemory(16 * 1024), cancellationToken);
            if (read == 0)
            {
                break;
            }

            buffer.Advance(read);
        }

        return buffer.WrittenSpan.ToArray();
    }
}
