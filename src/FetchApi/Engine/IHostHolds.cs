namespace FetchApi.Engine;

/// <summary>What a fetch tells the scheduler about hosts while it runs.</summary>
public interface IHostHolds
{
    /// <summary>The slot's host answered 429/503 with a <c>Retry-After</c> of <paramref name="delay"/>: hold it for everyone.</summary>
    void RetryAfter(TimeSpan delay);

    /// <summary>
    /// <paramref name="host"/>'s request rate has no room for another start for <paramref name="delay"/>: dispatch no
    /// other slot to it meanwhile, so that slots waiting for a slow host never hold the concurrency other hosts could use.
    /// </summary>
    void Pace(string host, TimeSpan delay);
}
