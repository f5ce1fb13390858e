namespace FetchApi.Callbacks;

/// <summary>When a callback that failed a delivery round is tried again, or that it is given up.</summary>
public static class CallbackSchedule
{
    /// <summary>
    /// The time of the next round after <paramref name="attempts"/> failed ones: <c>Callbacks:RoundDelay</c> doubling per
    /// round, at most an hour, with ±20 % jitter (<paramref name="jitter"/> in [0, 1)); null when that time is more than
    /// <c>Callbacks:MaxAge</c> after the batch ended: the callback is given up.
    /// </summary>
    public static DateTimeOffset? NextRound(int attempts, DateTimeOffset endedAt, DateTimeOffset now, CallbackOptions options, double jitter)
    {
        var delay = TimeSpan.FromTicks(Math.Min(options.RoundDelay.Ticks * (1L << Math.Min(attempts - 1, 20)), TimeSpan.FromHours(1).Ticks));
        var next = now + (delay * (0.8 + (0.4 * jitter)));
        return next - endedAt > options.MaxAge ? null : next;
    }
}
