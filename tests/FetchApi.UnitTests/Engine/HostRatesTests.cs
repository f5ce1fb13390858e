using FetchApi.Engine.Rates;

namespace FetchApi.UnitTests.Engine;

/// <summary>Per-host request rates: reservations at a fixed clock, no sleeping.</summary>
public sealed class HostRatesTests
{
    static readonly DateTimeOffset T0 = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    static TimeSpan Seconds(double s) => TimeSpan.FromSeconds(s);

    [Fact]
    public void WithoutARateNothingWaits()
    {
        var rates = new HostRates();

        Assert.All(Enumerable.Range(0, 100), _ => Assert.Equal(TimeSpan.Zero, rates.Reserve("a:80", 0, T0)));
    }

    [Fact]
    public void RequestsArrivingTogetherAreSpacedOneIntervalApart()
    {
        var rates = new HostRates();

        var waits = Enumerable.Range(0, 4).Select(_ => rates.Reserve("a:80", 2, T0)).ToList();

        Assert.Equal([Seconds(0), Seconds(0.5), Seconds(1), Seconds(1.5)], waits);
        Assert.Equal(T0 + Seconds(2), rates.NextFree("a:80", T0));
    }

    [Fact]
    public void ARequestAfterAQuietSpellStartsAtOnceAndNoBurstBuildsUp()
    {
        var rates = new HostRates();
        rates.Reserve("a:80", 1, T0);

        Assert.Equal(TimeSpan.Zero, rates.Reserve("a:80", 1, T0 + Seconds(10)));
        Assert.Equal(Seconds(1), rates.Reserve("a:80", 1, T0 + Seconds(10)));
    }

    [Fact]
    public void RequestsThatWakeLateTogetherStillStartOneIntervalApart()
    {
        var rates = new HostRates();
        Assert.Equal([Seconds(0), Seconds(0.1), Seconds(0.2)], Enumerable.Range(0, 3).Select(_ => rates.Reserve("a:80", 10, T0)).ToList());

        // A busy machine fires both timers half a second late, at the same moment: one starts, the other waits its interval.
        var late = T0 + Seconds(0.5);
        Assert.Equal(TimeSpan.Zero, rates.Start("a:80", 10, late));
        Assert.Equal(Seconds(0.1), rates.Start("a:80", 10, late));
        Assert.Equal(TimeSpan.Zero, rates.Start("a:80", 10, late + Seconds(0.1)));
        // Later reservations keep the spacing from the actual starts.
        Assert.Equal(Seconds(0.1), rates.Reserve("a:80", 10, late + Seconds(0.1)));
    }

    [Fact]
    public void ARequestThatWakesOnTimeStartsAtOnceEvenWhenTheClocksDisagreeByAHair()
    {
        var rates = new HostRates();
        rates.Reserve("a:80", 10, T0);
        rates.Reserve("a:80", 10, T0);

        Assert.Equal(TimeSpan.Zero, rates.Start("a:80", 10, T0 + Seconds(0.1)));
        Assert.Equal(TimeSpan.Zero, rates.Start("a:80", 10, T0 + Seconds(0.2) - TimeSpan.FromMilliseconds(0.5)));
        Assert.Equal(TimeSpan.Zero, rates.Start("b:80", 10, T0));
    }

    [Fact]
    public void AStartIsSpacedFromAReservationThatStartedAtOnceAndNeverPullsLaterReservationsForward()
    {
        var rates = new HostRates();
        Assert.Equal(TimeSpan.Zero, rates.Reserve("a:80", 10, T0));
        rates.Reserve("a:80", 10, T0);
        rates.Reserve("a:80", 10, T0);

        // The first started at T0 without waiting: a wake 50 ms later is still 50 ms early.
        Assert.Equal(Seconds(0.05), rates.Start("a:80", 10, T0 + Seconds(0.05)));
        // Exactly the tolerance early is on time.
        Assert.Equal(TimeSpan.Zero, rates.Start("a:80", 10, T0 + Seconds(0.1) - TimeSpan.FromMilliseconds(1)));
        Assert.Equal(T0 + Seconds(0.3), rates.NextFree("a:80", T0));
    }

    [Fact]
    public void HostsHaveTheirOwnBuckets()
    {
        var rates = new HostRates();
        rates.Reserve("a:80", 1, T0);

        Assert.Equal(TimeSpan.Zero, rates.Reserve("b:80", 1, T0));
        Assert.Equal(TimeSpan.Zero, rates.Reserve("a:443", 1, T0));
        Assert.Equal(T0, rates.NextFree("c:80", T0));
    }

    [Fact]
    public void WhileTwoBatchesShareAHostTheStricterRateHoldsForBoth()
    {
        var rates = new HostRates();
        rates.Reserve("a:80", 2, T0);           // the strict batch: one request per 0.5 s

        var loose = rates.Reserve("a:80", 100, T0); // the loose batch gets the strict spacing too

        Assert.Equal(Seconds(0.5), loose);
    }

    [Fact]
    public void TheLooserRateReturnsOnceTheStrictBatchHasBeenQuietForTheShareWindow()
    {
        var rates = new HostRates();
        rates.Reserve("a:80", 1, T0);
        var later = T0 + HostRates.ShareWindow + Seconds(1);

        Assert.Equal(TimeSpan.Zero, rates.Reserve("a:80", 10, later));
        Assert.Equal(Seconds(0.1), rates.Reserve("a:80", 10, later));
    }

    [Fact]
    public void AStrictRateKeepsHoldingWhileItsBatchKeepsAsking()
    {
        var rates = new HostRates();
        var starts = new List<DateTimeOffset>();
        for (var t = 0.0; t < 10; t += 1)
        {
            var strict = T0 + Seconds(t);
            var loose = T0 + Seconds(t + 0.5);
            starts.Add(strict + rates.Reserve("a:80", 1, strict));
            starts.Add(loose + rates.Reserve("a:80", 50, loose));
        }

        Assert.All(starts.Zip(starts.Skip(1)), pair => Assert.Equal(Seconds(1), pair.Second - pair.First));
    }

    [Fact]
    public void NoOneSecondWindowHoldsMoreThanTheRatePlusOne()
    {
        var rates = new HostRates();
        var random = new Random(7);
        var starts = new List<DateTimeOffset>();
        var now = T0;
        for (var i = 0; i < 500; i++)
        {
            now += TimeSpan.FromMilliseconds(random.Next(0, 120));
            starts.Add(now + rates.Reserve("a:80", 5, now));
        }

        starts.Sort();
        var busiest = starts.Max(s => starts.Count(o => o >= s && o < s + Seconds(1)));
        Assert.InRange(busiest, 1, 5 + 1);
    }

    [Fact]
    public void IdleHostsAreSweptAway()
    {
        var rates = new HostRates();
        rates.Reserve("a:80", 1, T0);
        rates.Reserve("b:80", 1, T0 + Seconds(30));

        rates.Sweep(T0 + Seconds(31));

        Assert.Equal(1, rates.Hosts);
        Assert.Equal(T0 + Seconds(31), rates.NextFree("b:80", T0 + Seconds(31)));
    }

    static readonly TimeSpan Fast = TimeSpan.FromMilliseconds(20);

    [Fact]
    public void A429WithoutRetryAfterSlowsTheHostDownAndEachFurtherOneDoublesIt()
    {
        var rates = new HostRates();

        Assert.True(rates.Observe("a:80", 429, retryAfterGiven: false, Fast, T0));
        Assert.Equal(HostRates.FirstSlowDown, rates.SlowDown("a:80"));
        rates.Observe("a:80", 503, retryAfterGiven: false, Fast, T0);
        Assert.Equal(HostRates.FirstSlowDown * 2, rates.SlowDown("a:80"));
        Assert.Equal(1, rates.SlowedHosts);
        Assert.Equal(TimeSpan.Zero, rates.SlowDown("b:80"));
    }

    [Fact]
    public void TheSlowDownSpacesRequestsEvenWithoutARate()
    {
        var rates = new HostRates();
        rates.Observe("a:80", 429, retryAfterGiven: false, Fast, T0);

        var waits = Enumerable.Range(0, 3).Select(_ => rates.Reserve("a:80", 0, T0)).ToList();

        // The pause starts at the push-back; then one spacing between starts.
        Assert.Equal([HostRates.FirstSlowDown, HostRates.FirstSlowDown * 2, HostRates.FirstSlowDown * 3], waits);
    }

    [Fact]
    public void ARetryAfterIsHonouredElsewhereAndDoesNotSlowDown()
    {
        var rates = new HostRates();

        Assert.False(rates.Observe("a:80", 429, retryAfterGiven: true, Fast, T0));
        Assert.False(rates.Observe("a:80", 200, retryAfterGiven: false, Fast, T0));
        Assert.Equal(0, rates.SlowedHosts);
    }

    [Fact]
    public void OrdinaryAnswersTakeTheSlowDownAwayStepByStep()
    {
        var rates = new HostRates();
        rates.Observe("a:80", 429, retryAfterGiven: false, Fast, T0);
        var steps = (int)(HostRates.FirstSlowDown / HostRates.Recovery);

        for (var i = 1; i < steps; i++)
        {
            Assert.True(rates.Observe("a:80", 200, retryAfterGiven: false, Fast, T0));
            Assert.Equal(HostRates.FirstSlowDown - (HostRates.Recovery * i), rates.SlowDown("a:80"));
        }

        Assert.False(rates.Observe("a:80", 404, retryAfterGiven: false, Fast, T0));
        Assert.Equal(0, rates.SlowedHosts);
    }

    [Fact]
    public void TheSlowDownNeverExceedsItsCap()
    {
        var rates = new HostRates();
        for (var i = 0; i < 40; i++)
        {
            rates.Observe("a:80", 429, retryAfterGiven: false, Fast, T0);
        }

        Assert.Equal(HostRates.MaxSlowDown, rates.SlowDown("a:80"));
    }

    [Fact]
    public void ClimbingLatencySlowsTheHostDownAndASteadilySlowHostIsLeftAlone()
    {
        var rates = new HostRates();
        for (var i = 0; i < 10; i++)
        {
            rates.Observe("a:80", 200, retryAfterGiven: false, TimeSpan.FromMilliseconds(100), T0);
        }

        var slowed = Enumerable.Range(0, 20).Select(_ => rates.Observe("a:80", 200, retryAfterGiven: false, TimeSpan.FromSeconds(5), T0)).ToList();
        Assert.Contains(true, slowed);

        // Always 5 s: the baseline catches up, and the spacing goes away again.
        var later = Enumerable.Range(0, 400).Select(_ => rates.Observe("a:80", 200, retryAfterGiven: false, TimeSpan.FromSeconds(5), T0)).ToList();
        Assert.False(later[^1]);

        var steady = new HostRates();
        Assert.All(Enumerable.Range(0, 50), _ => Assert.False(steady.Observe("b:80", 200, false, TimeSpan.FromSeconds(3), T0)));
    }

    [Fact]
    public void ARatesSpacingWinsOverASmallerSlowDownAndThePauseStartsAtThePushBack()
    {
        var rates = new HostRates();
        rates.Observe("a:80", 429, retryAfterGiven: false, Fast, T0);

        Assert.Equal(T0 + HostRates.FirstSlowDown, rates.NextFree("a:80", T0));
        Assert.Equal(HostRates.FirstSlowDown, rates.Reserve("a:80", 1, T0));
        Assert.Equal(HostRates.FirstSlowDown + Seconds(1), rates.Reserve("a:80", 1, T0));
    }

    [Fact]
    public void SweepingKeepsHostsThatAreBusyStrictOrSlowedAndForgetsThemWhenLongIdle()
    {
        var rates = new HostRates();
        rates.Reserve("busy:80", 1, T0 + Seconds(9));            // next free at 10 s
        rates.Reserve("strict:80", 0.1, T0);                     // next free at 10 s, strict until 2 s
        rates.Observe("slowed:80", 429, retryAfterGiven: false, Fast, T0);

        rates.Sweep(T0 + Seconds(11));
        Assert.Equal(3, rates.Hosts);

        rates.Sweep(T0 + Seconds(13));
        Assert.Equal(1, rates.Hosts); // the slowed host is kept until it has been idle for two longest pauses
        Assert.Equal(HostRates.FirstSlowDown, rates.SlowDown("slowed:80"));

        rates.Sweep(T0 + (HostRates.MaxSlowDown * 2) + Seconds(1));
        Assert.Equal(0, rates.Hosts);
    }

    [Fact]
    public void TheStrictRateEndsExactlyAtTheEndOfItsShareWindow()
    {
        var rates = new HostRates();
        rates.Reserve("a:80", 1, T0);
        var end = T0 + HostRates.ShareWindow;

        Assert.Equal(TimeSpan.Zero, rates.Reserve("a:80", 100, end));
        Assert.Equal(Seconds(0.01), rates.Reserve("a:80", 100, end));
    }

    [Fact]
    public void OnceTheStrictBatchHasGoneAnUnlimitedOneDoesNotWaitForItsLastInterval()
    {
        var rates = new HostRates();
        rates.Reserve("a:80", 0.1, T0); // the next start would be 10 s later at that rate

        Assert.Equal(TimeSpan.Zero, rates.Reserve("a:80", 0, T0 + HostRates.ShareWindow + Seconds(1)));
    }

    [Fact]
    public void AHostWithoutARateOrHistoryKeepsNoBucket()
    {
        var rates = new HostRates();

        foreach (var n in Enumerable.Range(0, 1000))
        {
            Assert.Equal(TimeSpan.Zero, rates.Reserve($"h{n}.localhost:80", 0, T0));
            Assert.Equal(TimeSpan.Zero, rates.Start($"h{n}.localhost:80", 0, T0));
        }

        Assert.Equal(0, rates.Hosts);
    }

    [Fact]
    public void AnAnsweredHostWithoutARateIsForgottenOnceItsShareWindowHasPassed()
    {
        var rates = new HostRates();
        rates.Observe("a:80", 200, retryAfterGiven: false, Fast, T0);

        rates.Sweep(T0 + Seconds(1));
        Assert.Equal(1, rates.Hosts);

        rates.Sweep(T0 + HostRates.ShareWindow + Seconds(1));
        Assert.Equal(0, rates.Hosts);
    }

    [Fact]
    public void AHostInUseKeepsItsBucketAcrossSweepsAndLosesItOnceIdle()
    {
        var rates = new HostRates();
        var now = T0;
        for (var i = 0; i < 40; i++, now += Seconds(0.5))
        {
            rates.Reserve("busy:80", 10, now);
            rates.Reserve("once:80", 10, T0);
            rates.Sweep(now);
            Assert.Equal(Seconds(0.1), rates.Reserve("busy:80", 10, now)); // still spaced: the bucket was never lost
        }

        Assert.Equal(1, rates.Hosts); // "once" went after its share window; "busy" stays while in use

        rates.Sweep(now + HostRates.ShareWindow + Seconds(1));
        Assert.Equal(0, rates.Hosts);
    }

    [Fact]
    public void ASlowHostKeepsItsLatencyHistoryAcrossOneOfItsOwnRequests()
    {
        var rates = new HostRates();
        rates.Observe("slow:80", 200, retryAfterGiven: false, Seconds(3), T0);

        // Its next answer may come 3 s later: four average answers of room past the share window.
        rates.Sweep(T0 + HostRates.ShareWindow + Seconds(11));
        Assert.Equal(1, rates.Hosts);

        rates.Sweep(T0 + HostRates.ShareWindow + Seconds(13));
        Assert.Equal(0, rates.Hosts);
    }

    [Fact]
    public void ManyIdleHostsAllGoAndTheSlowedCountFollows()
    {
        var rates = new HostRates();
        foreach (var n in Enumerable.Range(0, 5000))
        {
            rates.Reserve($"h{n}.localhost:80", 1, T0 + Seconds(n * 0.001));
            rates.Observe($"h{n}.localhost:80", n % 10 == 0 ? 429 : 200, retryAfterGiven: false, Fast, T0 + Seconds(n * 0.001));
        }

        Assert.Equal((5000, 500), (rates.Hosts, rates.SlowedHosts));

        rates.Sweep(T0 + Seconds(10));
        Assert.Equal((500, 500), (rates.Hosts, rates.SlowedHosts));

        rates.Sweep(T0 + Seconds(10) + HostRates.SlowedMemory);
        Assert.Equal((0, 0), (rates.Hosts, rates.SlowedHosts));
        Assert.Empty(rates.Slowed());
    }

    [Fact]
    public void AnAdoptedSlowDownSpacesTheHostFromNow()
    {
        var rates = new HostRates();

        rates.Adopt("a:80", Seconds(0.4), T0);

        Assert.Equal(Seconds(0.4), rates.SlowDown("a:80"));
        Assert.Equal(T0 + Seconds(0.4), rates.NextFree("a:80", T0));
        Assert.Equal([Seconds(0.4), Seconds(0.8)], [rates.Reserve("a:80", 0, T0), rates.Reserve("a:80", 0, T0)]);
        Assert.Equal(1, rates.SlowedHosts);
        Assert.Equal([("a:80", Seconds(0.4))], rates.Slowed());
    }

    [Fact]
    public void AdoptingKeepsTheLongerSpacingAndTheLaterNextFree()
    {
        var rates = new HostRates();
        rates.Observe("a:80", 429, retryAfterGiven: false, Fast, T0);
        rates.Observe("a:80", 429, retryAfterGiven: false, Fast, T0);
        rates.Reserve("a:80", 0.5, T0 + Seconds(1)); // spaced 2 s by its rate: next free at 3 s

        rates.Adopt("a:80", Seconds(0.1), T0 + Seconds(1));
        Assert.Equal((Seconds(0.2), T0 + Seconds(3)), (rates.SlowDown("a:80"), rates.NextFree("a:80", T0)));

        rates.Adopt("a:80", Seconds(5), T0 + Seconds(1));
        Assert.Equal((Seconds(5), T0 + Seconds(6)), (rates.SlowDown("a:80"), rates.NextFree("a:80", T0)));
        Assert.Equal(1, rates.SlowedHosts);

        rates.Adopt("a:80", TimeSpan.FromMinutes(5), T0 + Seconds(1));
        Assert.Equal((HostRates.MaxSlowDown, T0 + Seconds(1) + HostRates.MaxSlowDown), (rates.SlowDown("a:80"), rates.NextFree("a:80", T0)));
    }

    [Fact]
    public void AdoptingNoSlowDownChangesNothing()
    {
        var rates = new HostRates();

        rates.Adopt("a:80", TimeSpan.Zero, T0);
        rates.Adopt("b:80", Seconds(-1), T0);

        Assert.Equal((0, 0), (rates.Hosts, rates.SlowedHosts));
        Assert.Equal(TimeSpan.Zero, rates.Reserve("a:80", 0, T0));
    }

    [Fact]
    public void SlowedListsTheSlowedHostsOnlyAndWhatItListsMovesToAnotherOwner()
    {
        var rates = new HostRates();
        rates.Observe("pushed:80", 429, retryAfterGiven: false, Fast, T0);
        rates.Observe("pushed:80", 503, retryAfterGiven: false, Fast, T0);
        rates.Observe("fine:80", 200, retryAfterGiven: false, Fast, T0);
        rates.Reserve("rated:80", 5, T0);
        rates.Adopt("adopted:80", Seconds(1), T0);

        var slowed = rates.Slowed();
        Assert.Equal([("adopted:80", Seconds(1)), ("pushed:80", Seconds(0.2))], slowed.OrderBy(s => s.Host, StringComparer.Ordinal));

        var owner = new HostRates();
        foreach (var (host, slowDown) in slowed)
        {
            owner.Adopt(host, slowDown, T0 + Seconds(5));
        }

        Assert.Equal((Seconds(0.2), Seconds(1)), (owner.SlowDown("pushed:80"), owner.SlowDown("adopted:80")));
        Assert.Equal(Seconds(0.2), owner.Reserve("pushed:80", 0, T0 + Seconds(5)));
    }

    [Fact]
    public void AHostThatRecoversLeavesTheSlowedList()
    {
        var rates = new HostRates();
        rates.Observe("a:80", 429, retryAfterGiven: false, Fast, T0);

        for (var i = 0; i < 10; i++)
        {
            rates.Observe("a:80", 200, retryAfterGiven: false, Fast, T0);
        }

        Assert.Empty(rates.Slowed());
        Assert.Equal(0, rates.SlowedHosts);
    }

    [Fact]
    public void AnAdoptedSlowDownIsKeptWhileItMattersAndForgottenWhenLongIdle()
    {
        var rates = new HostRates();
        rates.Adopt("a:80", Seconds(10), T0);

        rates.Sweep(T0 + Seconds(10) + HostRates.SlowedMemory - Seconds(1));
        Assert.Equal(Seconds(10), rates.SlowDown("a:80"));

        rates.Sweep(T0 + Seconds(10) + HostRates.SlowedMemory);
        Assert.Equal((0, 0), (rates.Hosts, rates.SlowedHosts));
    }

    [Fact]
    public void AnAnswerKeepsTheHostAsLongAsARequestDoes()
    {
        var rates = new HostRates();
        rates.Reserve("a:80", 1, T0); // next free at 1 s
        rates.Observe("a:80", 200, retryAfterGiven: false, Fast, T0 + Seconds(5));

        rates.Sweep(T0 + Seconds(6));
        Assert.Equal(1, rates.Hosts);

        rates.Sweep(T0 + Seconds(5) + HostRates.ShareWindow + Seconds(1));
        Assert.Equal(0, rates.Hosts);
    }

    [Fact]
    public void ASlowedHostIsKeptForTwoOfTheLongestPauses()
    {
        var rates = new HostRates();
        rates.Observe("a:80", 429, retryAfterGiven: false, Fast, T0);

        rates.Sweep(T0 + TimeSpan.FromSeconds(59));
        Assert.Equal(1, rates.SlowedHosts);

        rates.Sweep(T0 + HostRates.FirstSlowDown + TimeSpan.FromSeconds(60));
        Assert.Equal(0, rates.SlowedHosts);
    }
}
