namespace FetchApi.Engine.Rates;

/// <summary>
/// Requests per second per host, as a token bucket holding one token (GCRA: each request start reserves the next
/// free moment, one interval after the previous one; a request that arrives late starts at once). Every batch brings
/// its own rate; while batches share a host, the strictest rate any of them asked for in the last
/// <see cref="ShareWindow"/> holds for all. Thread-safe; the clock is an argument. No I/O.
/// <para>
/// A host gets a bucket on its first request with a rate (or its first answer, for the adaptive slow-down) and loses it
/// once idle: past its share window and its last interval, or, while slowed down, past <see cref="SlowedMemory"/>.
/// Each bucket waits in a queue ordered by when it may be forgotten, so that <see cref="Sweep"/> looks only at the
/// buckets that are due: the table, and the work of keeping it, follow the hosts active recently, not every host ever
/// asked for.
/// </para>
/// </summary>
public sealed class HostRates : Hosts.IHostTable
{
    /// <summary>How long a strict rate keeps holding after the last request that asked for it.</summary>
    public static readonly TimeSpan ShareWindow = TimeSpan.FromSeconds(2);

    /// <summary>Spacing added after a push-back when the host had none; doubled by every further push-back.</summary>
    public static readonly TimeSpan FirstSlowDown = TimeSpan.FromMilliseconds(100);

    /// <summary>Most spacing the adaptive rule adds between two request starts.</summary>
    public static readonly TimeSpan MaxSlowDown = TimeSpan.FromSeconds(30);

    /// <summary>Below this average latency, no host counts as slowing down.</summary>
    public static readonly TimeSpan ClimbingLatency = TimeSpan.FromSeconds(2);

    /// <summary>How much spacing each ordinary answer takes away again.</summary>
    public static readonly TimeSpan Recovery = TimeSpan.FromMilliseconds(10);

    /// <summary>How long a slowed-down host keeps its spacing after its last request: two of the longest pauses.</summary>
    public static readonly TimeSpan SlowedMemory = MaxSlowDown * 2;

    /// <summary>How many due buckets one <see cref="Sweep"/> looks at per hold of the lock, so requests never wait long for it.</summary>
    const int SweepChunk = 1024;

    /// <summary>How much earlier than one interval after the last start a start may come (timer and wall clock disagree by a hair).</summary>
    static readonly TimeSpan StartTolerance = TimeSpan.FromMilliseconds(1);

    sealed class Bucket
    {
        public DateTimeOffset NextFree;
        /// <summary>When the last request to the host actually started (after its wait).</summary>
        public DateTimeOffset LastStart = DateTimeOffset.MinValue;
        public double Strictest = double.PositiveInfinity;
        public DateTimeOffset StrictestUntil;
        /// <summary>Adaptive spacing between request starts (zero: none), and the host's latency: its average and its best.</summary>
        public TimeSpan SlowDown;
        public double LatencyAverage;
        public double LatencyBaseline = double.PositiveInfinity;
        /// <summary>When the host was last asked for or answered.</summary>
        public DateTimeOffset LastUsed;
    }

    readonly Dictionary<string, Bucket> _buckets = [];
    /// <summary>Every bucket once, by the earliest moment it might be forgotten.</summary>
    readonly PriorityQueue<(string Host, Bucket Bucket), DateTimeOffset> _reviews = new();
    readonly Lock _gate = new();
    /// <summary>The most entries since the tables were last trimmed: emptied tables give their arrays back too.</summary>
    int _mostSinceTrim;
    int _slowed;

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
                if (requestsPerSecond <= 0)
                {
                    return TimeSpan.Zero; // no rate and nothing known: nothing to keep
                }

                bucket = Add(host, now);
            }

            bucket.LastUsed = now;
            var interval = Interval(bucket, requestsPerSecond, now);
            if (interval == TimeSpan.Zero)
            {
                return TimeSpan.Zero;
            }

            var start = bucket.NextFree > now ? bucket.NextFree : now;
            bucket.NextFree = start + interval;
            if (start == now)
            {
                bucket.LastStart = now;
            }

            return start - now;
        }
    }

    /// <summary>
    /// After the wait <see cref="Reserve"/> asked for: returns how much longer to wait (zero: start now, recorded). A busy
    /// machine fires timers late, and several at once; without this check the requests reserved one interval apart would
    /// reach the host together. Each starts at least one interval (less <see cref="StartTolerance"/>) after the last start,
    /// and later reservations keep that spacing.
    /// </summary>
    public TimeSpan Start(string host, double requestsPerSecond, DateTimeOffset now)
    {
        lock (_gate)
        {
            if (!_buckets.TryGetValue(host, out var bucket))
            {
                return TimeSpan.Zero;
            }

            bucket.LastUsed = now;
            var interval = Interval(bucket, requestsPerSecond, now);
            var earliest = bucket.LastStart == DateTimeOffset.MinValue ? now : bucket.LastStart + interval;
            if (earliest - now > StartTolerance)
            {
                return earliest - now;
            }

            bucket.LastStart = now;
            bucket.NextFree = bucket.NextFree > now + interval ? bucket.NextFree : now + interval;
            return TimeSpan.Zero;
        }
    }

    /// <summary>The spacing between two starts: the effective rate's interval, or the adaptive slow-down if longer.</summary>
    static TimeSpan Interval(Bucket bucket, double requestsPerSecond, DateTimeOffset now)
    {
        var rate = EffectiveRate(bucket, requestsPerSecond, now);
        var interval = double.IsPositiveInfinity(rate) ? TimeSpan.Zero : TimeSpan.FromSeconds(1 / rate);
        return interval > bucket.SlowDown ? interval : bucket.SlowDown;
    }

    /// <summary>
    /// The adaptive slow-down (AIMD on the spacing between request starts, as AutoThrottle does on its delay): a push-back
    /// (429 or 503 without <c>Retry-After</c>, or a latency average above four times the host's baseline and above
    /// <see cref="ClimbingLatency"/>)
    /// doubles the host's spacing (<see cref="FirstSlowDown"/> the first time, at most <see cref="MaxSlowDown"/>); every
    /// other answer takes <see cref="Recovery"/> off it, until none is left. The spacing bounds the host's rate, and
    /// with it how many of its requests are in flight (latency ÷ spacing). Returns whether the host is slowed down.
    /// </summary>
    public bool Observe(string host, int? status, bool retryAfterGiven, TimeSpan latency, DateTimeOffset now)
    {
        lock (_gate)
        {
            // The latency rule needs the host's history: an answer starts one (forgotten soon after, when idle).
            var bucket = _buckets.GetValueOrDefault(host) ?? Add(host, now);
            bucket.LastUsed = now;
            var seconds = latency.TotalSeconds;
            bucket.LatencyAverage = bucket.LatencyAverage == 0 ? seconds : (0.8 * bucket.LatencyAverage) + (0.2 * seconds);
            // The baseline follows the best average at once and a worse one slowly: a host that is simply slow stops
            // counting as "climbing" after a few dozen answers.
            bucket.LatencyBaseline = double.IsPositiveInfinity(bucket.LatencyBaseline) || bucket.LatencyAverage < bucket.LatencyBaseline
                ? bucket.LatencyAverage
                : bucket.LatencyBaseline + (0.05 * (bucket.LatencyAverage - bucket.LatencyBaseline));
            var pushedBack = (status is 429 or 503 && !retryAfterGiven)
                || (bucket.LatencyAverage > 4 * bucket.LatencyBaseline && bucket.LatencyAverage > ClimbingLatency.TotalSeconds);
            if (pushedBack)
            {
                var doubled = bucket.SlowDown == TimeSpan.Zero ? FirstSlowDown : bucket.SlowDown * 2;
                SetSlowDown(bucket, doubled < MaxSlowDown ? doubled : MaxSlowDown);
                // The pause starts now: the next request to the host waits at least the new spacing.
                var until = now + bucket.SlowDown;
                bucket.NextFree = bucket.NextFree > until ? bucket.NextFree : until;
            }
            else if (bucket.SlowDown > TimeSpan.Zero)
            {
                SetSlowDown(bucket, bucket.SlowDown > Recovery ? bucket.SlowDown - Recovery : TimeSpan.Zero);
            }

            return bucket.SlowDown > TimeSpan.Zero;
        }
    }

    /// <summary>
    /// Takes over a slow-down another owner of <paramref name="host"/> had (several nodes): the host keeps the longer of
    /// its own spacing and <paramref name="slowDown"/> (at most <see cref="MaxSlowDown"/>), and its next request waits at
    /// least <paramref name="slowDown"/> from now, as after a push-back here.
    /// </summary>
    public void Adopt(string host, TimeSpan slowDown, DateTimeOffset now)
    {
        if (slowDown <= TimeSpan.Zero)
        {
            return;
        }

        var spacing = slowDown < MaxSlowDown ? slowDown : MaxSlowDown;
        lock (_gate)
        {
            var bucket = _buckets.GetValueOrDefault(host) ?? Add(host, now);
            bucket.LastUsed = now;
            if (spacing > bucket.SlowDown)
            {
                SetSlowDown(bucket, spacing);
            }

            var until = now + spacing;
            bucket.NextFree = bucket.NextFree > until ? bucket.NextFree : until;
        }
    }

    /// <summary>The hosts the adaptive rule slows down now, with their spacing: what a new owner of each should <see cref="Adopt"/>.</summary>
    public IReadOnlyList<(string Host, TimeSpan SlowDown)> Slowed()
    {
        lock (_gate)
        {
            var slowed = new List<(string Host, TimeSpan SlowDown)>(_slowed);
            foreach (var (host, bucket) in _buckets)
            {
                if (bucket.SlowDown > TimeSpan.Zero)
                {
                    slowed.Add((host, bucket.SlowDown));
                }
            }

            return slowed;
        }
    }

    /// <summary>How many hosts the adaptive rule slows down now (a gauge: no per-host label).</summary>
    public int SlowedHosts
    {
        get
        {
            lock (_gate)
            {
                return _slowed;
            }
        }
    }

    /// <summary>The spacing the adaptive rule adds between request starts to <paramref name="host"/>.</summary>
    public TimeSpan SlowDown(string host)
    {
        lock (_gate)
        {
            return _buckets.TryGetValue(host, out var bucket) ? bucket.SlowDown : TimeSpan.Zero;
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

    /// <summary>
    /// Forgets the hosts that have been idle long enough (<see cref="ForgetAt"/>). Looks only at buckets due for a look
    /// (a bucket still in use goes back in the queue, due when it could next be forgotten), a chunk per hold of the lock:
    /// its cost follows the hosts active recently, never the number of requests.
    /// </summary>
    public void Sweep(DateTimeOffset now)
    {
        for (var more = true; more;)
        {
            lock (_gate)
            {
                more = false;
                _mostSinceTrim = Math.Max(_mostSinceTrim, _buckets.Count);
                for (var looked = 0; _reviews.TryPeek(out var due, out var at) && at <= now; looked++)
                {
                    if (looked == SweepChunk)
                    {
                        more = true;
                        break;
                    }

                    _reviews.Dequeue();
                    if (!_buckets.TryGetValue(due.Host, out var current) || !ReferenceEquals(current, due.Bucket))
                    {
                        continue; // forgotten already
                    }

                    var forgetAt = ForgetAt(current);
                    if (forgetAt <= now)
                    {
                        SetSlowDown(current, TimeSpan.Zero);
                        _buckets.Remove(due.Host);
                    }
                    else
                    {
                        _reviews.Enqueue(due, forgetAt);
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
        if (_mostSinceTrim > 4096 && _buckets.Count < _mostSinceTrim / 4)
        {
            _buckets.TrimExcess();
            _reviews.TrimExcess();
            _mostSinceTrim = _buckets.Count;
        }
    }

    /// <summary>Hosts with a bucket now.</summary>
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

    Bucket Add(string host, DateTimeOffset now)
    {
        var bucket = new Bucket { NextFree = now, LastUsed = now };
        _buckets[host] = bucket;
        _reviews.Enqueue((host, bucket), ForgetAt(bucket));
        return bucket;
    }

    /// <summary>
    /// When a bucket left alone may go, because a new one would behave the same: its last use and its next free moment
    /// past the share window (so its strictest rate has expired too: the window starts at a use), with room for four of
    /// its average answers, so that a slow host keeps its latency history across one of its own requests; and a
    /// slow-down past <see cref="SlowedMemory"/>.
    /// </summary>
    static DateTimeOffset ForgetAt(Bucket bucket)
    {
        var last = bucket.LastUsed > bucket.NextFree ? bucket.LastUsed : bucket.NextFree;
        var at = last + ShareWindow + TimeSpan.FromSeconds(4 * bucket.LatencyAverage);
        return bucket.SlowDown > TimeSpan.Zero && last + SlowedMemory > at ? last + SlowedMemory : at;
    }

    void SetSlowDown(Bucket bucket, TimeSpan slowDown)
    {
        _slowed += (bucket.SlowDown > TimeSpan.Zero, slowDown > TimeSpan.Zero) switch
        {
            (false, true) => 1,
            (true, false) => -1,
            _ => 0,
        };
        bucket.SlowDown = slowDown;
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
