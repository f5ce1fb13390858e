namespace FetchApi.Engine;

/// <summary>
/// The scheduler's host entries: fetches in flight per host and holds (Retry-After, a host's rate). A host has an entry
/// only while it has fetches in flight or is held: an entry with neither is removed when its last fetch completes, or,
/// when a hold outlasts the fetch, at the first <see cref="Next"/> after the hold (which asks to be called then: see
/// <see cref="IdleHoldSlack"/>). So the entries follow the hosts active now, not every host ever fetched.
/// </summary>
public sealed partial class Scheduler
{
    readonly Dictionary<string, HostState> _hosts = new(StringComparer.OrdinalIgnoreCase);
    /// <summary>Hosts with nothing in flight that are still held, by the end of their hold: removed once it has passed.</summary>
    readonly PriorityQueue<string, DateTimeOffset> _heldIdle = new();

    /// <summary>
    /// How long after the end of an idle host's hold <see cref="Next"/> asks to be called to remove its entry: holds that
    /// end within this of each other cost one call.
    /// </summary>
    public static readonly TimeSpan IdleHoldSlack = TimeSpan.FromSeconds(1);

    /// <summary>Hosts with an entry here: fetches in flight, or held.</summary>
    public int Hosts => _hosts.Count;

    /// <summary>Holds <paramref name="host"/> back until <paramref name="delay"/> from now (an upstream's Retry-After).</summary>
    public void Hold(string host, TimeSpan delay, DateTimeOffset now)
    {
        if (_hosts.TryGetValue(host, out var state))
        {
            var until = now + delay;
            state.NotBefore = state.NotBefore > until ? state.NotBefore : until;
        }
    }

    /// <summary>Removes the entry of a host with nothing in flight, or, while it is held, watches it until the hold ends.</summary>
    void ForgetOrWatch(string key, HostState host, DateTimeOffset now)
    {
        if (host.NotBefore <= now)
        {
            _hosts.Remove(key);
        }
        else if (!host.Watched)
        {
            host.Watched = true;
            _heldIdle.Enqueue(key, host.NotBefore);
        }
    }

    /// <summary>Removes the entries of idle hosts whose hold has ended (a hold made longer meanwhile is watched again).</summary>
    void ForgetIdleHosts(DateTimeOffset now)
    {
        while (_heldIdle.TryPeek(out var key, out var until) && until <= now)
        {
            _heldIdle.Dequeue();
            if (_hosts.TryGetValue(key, out var host))
            {
                host.Watched = false;
                if (host.InFlight == 0)
                {
                    ForgetOrWatch(key, host, now);
                }
            }
        }
    }

    sealed class HostState
    {
        public int InFlight;
        public DateTimeOffset NotBefore;
        /// <summary>In <see cref="_heldIdle"/>.</summary>
        public bool Watched;
    }
}
