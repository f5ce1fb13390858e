using FetchApi.Callbacks;

namespace FetchApi.UnitTests.Callbacks;

/// <summary>When a failed callback is tried again: the round delay doubles, is capped at an hour, and stops at MaxAge.</summary>
public sealed class CallbackScheduleTests
{
    static readonly DateTimeOffset Ended = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    static readonly CallbackOptions Options = new() { RoundDelay = TimeSpan.FromSeconds(30), MaxAge = TimeSpan.FromHours(24) };

    // jitter 0.5 is the middle of ±20 %: the delay itself.
    static TimeSpan? DelayAfter(int attempts, TimeSpan sinceEnd, double jitter = 0.5) =>
        CallbackSchedule.NextRound(attempts, Ended, Ended + sinceEnd, Options, jitter) - (Ended + sinceEnd);

    [Theory]
    [InlineData(1, 30)]
    [InlineData(2, 60)]
    [InlineData(3, 120)]
    [InlineData(7, 1920)]
    [InlineData(8, 3600)]
    [InlineData(30, 3600)]
    public void RoundDelayDoublesUpToAnHour(int attempts, int seconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(seconds), DelayAfter(attempts, TimeSpan.Zero));
    }

    [Theory]
    [InlineData(0.0, 24)]
    [InlineData(0.999_999, 36)]
    public void JitterSpreadsTheDelayByTwentyPercent(double jitter, double seconds)
    {
        Assert.Equal(seconds, DelayAfter(1, TimeSpan.Zero, jitter)!.Value.TotalSeconds, precision: 3);
    }

    [Fact]
    public void ARoundThatWouldFallPastMaxAgeIsGivenUp()
    {
        Assert.NotNull(DelayAfter(20, TimeSpan.FromHours(22)));
        Assert.Null(DelayAfter(20, TimeSpan.FromHours(23.5)));
    }
}
