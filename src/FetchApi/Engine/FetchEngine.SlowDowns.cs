namespace FetchApi.Engine;

// Several nodes: a host's adaptive slow-down outlives a change of the host's owner.
public sealed partial class FetchEngine
{
    /// <summary>How often this node records the hosts it slows down, when that changed.</summary>
    static readonly TimeSpan SlowDownRecordInterval = TimeSpan.FromSeconds(1);

    // What this node last recorded (host → spacing in ms), and the recordings of other nodes adopted (host → when recorded).
    readonly Dictionary<string, long> _recorded = new(StringComparer.OrdinalIgnoreCase);
    readonly Dictionary<string, DateTimeOffset> _adopted = new(StringComparer.OrdinalIgnoreCase);
    Task _recording = Task.CompletedTask;

    /// <summary>
    /// Takes over the slow-downs other nodes recorded lately (a host that moved here keeps being slowed down), each
    /// recording once: this node's own recovery is never undone by an old recording. Called after each claim.
    /// </summary>
    void Adopt(IReadOnlyList<HostSlowDown>? recorded)
    {
        if ((recorded is null || recorded.Count == 0) && _adopted.Count == 0)
        {
            return; // the common case, after every claim: nothing recorded by others, nothing adopted to forget
        }

        var now = time.GetUtcNow();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var slowDown in recorded ?? [])
        {
            seen.Add(slowDown.Host);
            if (_adopted.TryGetValue(slowDown.Host, out var at) && at >= slowDown.At)
            {
                continue;
            }

            rates.Adopt(slowDown.Host, slowDown.SlowDown, now);
            _adopted[slowDown.Host] = slowDown.At;
        }

        // Recordings past the store's memory are no longer handed out: forget them here too.
        foreach (var host in _adopted.Keys.Where(h => !seen.Contains(h)).ToList())
        {
            _adopted.Remove(host);
        }
    }

    /// <summary>Every second, records the hosts whose slow-down changed (a host no longer slowed is recorded as 0).</summary>
    async Task RecordSlowDownsAsync()
    {
        await Task.Yield();
        using var timer = new PeriodicTimer(SlowDownRecordInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(_heartbeatStop.Token))
            {
                var now = time.GetUtcNow();
                var slowed = rates.Slowed().ToDictionary(s => s.Host, s => (long)s.SlowDown.TotalMilliseconds, StringComparer.OrdinalIgnoreCase);
                var changed = slowed.Where(s => _recorded.GetValueOrDefault(s.Key) != s.Value)
                    .Select(s => new HostSlowDown(s.Key, TimeSpan.FromMilliseconds(s.Value), now))
                    .Concat(_recorded.Keys.Where(h => !slowed.ContainsKey(h)).Select(h => new HostSlowDown(h, TimeSpan.Zero, now)))
                    .ToList();
                if (changed.Count == 0)
                {
                    continue;
                }

                try
                {
                    await _claims!.RecordSlowDownsAsync(changed, CancellationToken.None);
                    _recorded.Clear();
                    foreach (var (host, ms) in slowed)
                    {
                        _recorded[host] = ms;
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    LogRecordSlowDownsFailed(ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Recording this node's slowed hosts for the cluster failed; trying again in 1 s")]
    partial void LogRecordSlowDownsFailed(Exception exception);
}
