using System.Net.Http.Headers;

namespace FetchApi.Engine;

/// <summary>The wait an upstream's <c>Retry-After</c> asks for (RFC 9110 §10.2.3).</summary>
public static class RetryAfter
{
    /// <summary>
    /// The delay of a <c>Retry-After</c> header at <paramref name="now"/>: its seconds, or the time until its date; zero for a
    /// date in the past; null without the header.
    /// </summary>
    public static TimeSpan? Delay(RetryConditionHeaderValue? header, DateTimeOffset now)
    {
        var delay = header switch
        {
            { Delta: { } delta } => delta,
            { Date: { } date } => date - now,
            _ => (TimeSpan?)null,
        };
        return delay < TimeSpan.Zero ? TimeSpan.Zero : delay;
    }
}
