namespace FetchApi.Engine.Politeness;

/// <summary>
/// Requests per second per host, as a token bucket holding one token (GCRA: each request start reserves the next
/// free moment, one interval after the previous one; a request that arrives late starts at once). Every batch brings
/// its own rate; while batches share a host, the strictest rate any of them asked for in the last
/// <see cref="ShareWindow"/> holds for all. Thread-safe; the clock is an argument. No I/O.
/// </summary>
public sealed class HostRates
{
    /// <summary>How long a strict rate keeps holding after the last request that asked for it.</summary>
    public static readonly TimeSpan ShareWindow = TimeSpan.FromSeconds(2);

    sealed class Bucket
    {
        public DateTimeOffset NextFree;
        public double Strictest = double.PositiveInfinity;
        public DateTimeOffset StrictestUntil;
    }

    readonly Dictionary<string, Bucket> _buckets = [];
    readonly Lock _gate = new();

    /// <summary>
    /// Reserves the start of one request to <paramref name="host"/> at <paramref name="requestsPerSecond"/> (0 or less:
    /// no limit of its own) and returns how long to wait before starting it.
    /// </summary>
    public TimeSpan Reserve(string host, double requestsPerSecond, DateTimeOffset now)
    {
        lock (_gate)
        {
            if (!_buckets.TryGetValue(host, out var bucket))
            {
                _buckets[host] = bucket = new Bucket { NextFree = now };
            }

            var rate = EffectiveRate(bucket, requestsPerSecond, now);
            if (double.IsPositiveInfinity(rate))
            {
                return TimeSpan.Zero;
            }

            var start = bucket.NextFree > now ? bucket.NextFree : now;
            bucket.NextFree = start + TimeSpan.FromSeconds(1 / rate);
            return start - now;
        }
    }

    /// <summary>The earliest moment a request to <paramref name="host"/> could start without waiting.</summary>
    public DateTimeOffset NextFree(string host, DateTimeOffset now)
    {
        lock (_gate)
        {
            return _buckets.TryGetValue(host, out var bucket) && bucket.NextFree > now ? bucket.NextFree : now;
        }
    }

    /// <summary>Forgets hosts that have been idle for a while, so that the table does not grow without bound.</summary>
    public void Sweep(DateTimeOffset now)
    {
        lock (_gate)
        {
            foreach (var (host, bucket) in _buckets.ToList())
            {
                if (bucket.NextFree + ShareWindow < now && bucket.StrictestUntil < now)
                {
                    _buckets.Remove(host);
                }
            }
        }
    }

    public int Hosts
    {
        get
        {
            lock (_gate)
            {
                return _buckets.Count;
            }
        }
    }

    static double EffectiveRate(Bucket bucket, double requestsPerSecond, DateTimeOffset now)
    {
        var asked = requestsPerSecond > 0 ? requestsPerSecond : double.PositiveInfinity;
        if (now >= bucket.StrictestUntil || asked <= bucket.Strictest)
        {
            // The stricter rate (or the only one left) holds for everyone for the next share window.
            bucket.Strictest = asked;
            bucket.StrictestUntil = now + ShareWindow;
        }

        return bucket.Strictest;
    }
}
