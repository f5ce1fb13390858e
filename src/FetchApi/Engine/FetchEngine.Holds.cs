namespace FetchApi.Engine;

// Holding hosts back: for an upstream's Retry-After (on every node) and for a host's request rate (on this node).
public sealed partial class FetchEngine
{
    /// <summary>How a fetch holds hosts back: its own host for a Retry-After (everywhere), any host for its rate (here).</summary>
    sealed class SlotHolds(FetchEngine engine, string host) : IHostHolds
    {
        public void RetryAfter(TimeSpan delay) => engine.Hold(host, delay);

        public void Pace(string paced, TimeSpan delay) => engine.Pace(paced, delay);
    }

    /// <summary>A host's rate has no room yet: this node dispatches nothing to it meanwhile (rates are per node).</summary>
    void Pace(string host, TimeSpan delay)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            _scheduler.Hold(host, delay, now);
        }
    }

    void Hold(string host, TimeSpan delay)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            _scheduler.Hold(host, delay, now);
        }

        if (_claims is not null)
        {
            _ = HoldEverywhereAsync(host, now + delay);
        }
    }
}
