using FetchApi.Engine;
using Microsoft.Extensions.Time.Testing;

namespace FetchApi.UnitTests.Engine;

/// <summary>
/// What runs next: fairness across batches and hosts, the three limits, Retry-After holds, windows and backlog.
/// No sockets, no sleeps: the clock is a <see cref="FakeTimeProvider"/> and every call returns at once.
/// </summary>
public sealed class SchedulerTests
{
    readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero));

    DateTimeOffset Now => _clock.GetUtcNow();

    static Scheduler Create(int global = 256, int perHost = 1000, int window = 1000, int maxBacklog = 1_000_000) =>
        new(new EngineOptions { GlobalConcurrency = global, PerHostConcurrency = perHost, WindowSize = window, MaxBacklog = maxBacklog });

    /// <summary><paramref name="count"/> slots from index <paramref name="from"/>, on <paramref name="hosts"/> in turn.</summary>
    static List<PendingSlot> Slots(int count, int from = 0, params string[] hosts)
    {
        hosts = hosts.Length == 0 ? ["a.test"] : hosts;
        return [.. Enumerable.Range(from, count).Select(i => new PendingSlot(i, $"http://{hosts[i % hosts.Length]}/{i}"))];
    }

    static Guid Add(Scheduler scheduler, int slots, int concurrency = 20, params string[] hosts)
    {
        var id = Guid.NewGuid();
        Assert.True(scheduler.Add(id, concurrency, slots, Slots(slots, 0, hosts)));
        return id;
    }

    [Fact]
    public void GlobalConcurrencyBoundsEverythingInFlight()
    {
        var scheduler = Create(global: 5);
        Add(scheduler, 10);
        Add(scheduler, 10);

        Assert.Equal(5, scheduler.Next(Now).Work.Count);
        Assert.Empty(scheduler.Next(Now).Work);
        Assert.Equal(5, scheduler.InFlight);
    }

    [Fact]
    public void BatchConcurrencyBoundsItsOwnFetches()
    {
        var scheduler = Create();
        var id = Add(scheduler, 10, concurrency: 3);

        var work = scheduler.Next(Now).Work;

        Assert.Equal(3, work.Count);
        Assert.All(work, d => Assert.Equal(id, d.BatchId));
    }

    [Fact]
    public void PerHostConcurrencyHoldsAcrossBatchesAndLeavesOtherHostsFree()
    {
        var scheduler = Create(perHost: 2);
        Add(scheduler, 10, hosts: "slow.test");
        Add(scheduler, 10, hosts: ["slow.test", "fast.test"]);

        var work = scheduler.Next(Now).Work;

        Assert.Equal(2, work.Count(d => d.Host == "slow.test:80"));
        Assert.Equal(2, work.Count(d => d.Host == "fast.test:80"));
    }

    [Fact]
    public void BatchesShareGlobalSlotsRoundRobin()
    {
        var scheduler = Create(global: 6);
        var a = Add(scheduler, 100);
        var b = Add(scheduler, 100);
        var c = Add(scheduler, 100);

        var work = scheduler.Next(Now).Work;

        Assert.Equal([2, 2, 2], new[] { a, b, c }.Select(id => work.Count(d => d.BatchId == id)));
    }

    [Fact]
    public void HostsOfOneBatchTakeTurns()
    {
        var scheduler = Create();
        var id = Guid.NewGuid();
        // Input order a, a, a, b, b, b: the first two fetches still go to different hosts.
        scheduler.Add(id, 2, 6, [.. Slots(3, 0, "a.test"), .. Slots(3, 3, "b.test")]);

        var work = scheduler.Next(Now).Work;

        Assert.Equal(["a.test:80", "b.test:80"], work.Select(d => d.Host).Order());
    }

    [Fact]
    public void SlotsOfOneHostGoInIndexOrder()
    {
        var scheduler = Create();
        Add(scheduler, 5, concurrency: 5);

        Assert.Equal([0, 1, 2, 3, 4], scheduler.Next(Now).Work.Select(d => d.Slot.Index));
    }

    [Fact]
    public void ASmallBatchTakesTurnsForFreedSlotsWhileALargeOneHoldsEveryGlobalSlot()
    {
        var scheduler = Create(global: 4);
        var large = Add(scheduler, 1000, concurrency: 100);
        var running = scheduler.Next(Now).Work;
        var small = Add(scheduler, 3);

        var freed = new List<Dispatch>();
        foreach (var done in running.Take(2))
        {
            var completion = scheduler.Complete(done, Now, takeNext: true);
            Assert.Null(completion.Next); // the large batch does not keep a slot while another batch waits
            Assert.True(completion.WakeLoop);
            freed.Add(Assert.Single(scheduler.Next(Now).Work));
        }

        Assert.All(running, d => Assert.Equal(large, d.BatchId));
        Assert.Equal(1, freed.Count(d => d.BatchId == small));
    }

    [Fact]
    public void BatchesWaitingTogetherSplitFreedSlotsEvenly()
    {
        var scheduler = Create(global: 4);
        var large = Add(scheduler, 1000, concurrency: 100);
        var running = scheduler.Next(Now).Work;
        var small = Add(scheduler, 10);
        foreach (var done in running)
        {
            scheduler.Complete(done, Now, takeNext: true);
        }

        var next = scheduler.Next(Now).Work;

        Assert.Equal(2, next.Count(d => d.BatchId == large));
        Assert.Equal(2, next.Count(d => d.BatchId == small));
    }

    [Fact]
    public void AFinishedFetchHandsOverTheNextSlotOfItsBatchWhenNoOtherBatchWaits()
    {
        var scheduler = Create();
        Add(scheduler, 10, concurrency: 2);
        var running = scheduler.Next(Now).Work;

        var completion = scheduler.Complete(running[0], Now, takeNext: true);

        Assert.Equal(2, completion.Next?.Slot.Index);
        Assert.False(completion.WakeLoop);
        Assert.Equal(2, scheduler.InFlight);
    }

    [Fact]
    public void WithoutTakeNextAFinishedFetchLeavesTheSlotToTheLoop()
    {
        var scheduler = Create();
        Add(scheduler, 10, concurrency: 2);
        var running = scheduler.Next(Now).Work;

        var completion = scheduler.Complete(running[0], Now, takeNext: false);

        Assert.Null(completion.Next);
        Assert.True(completion.WakeLoop);
        Assert.Equal(2, Assert.Single(scheduler.Next(Now).Work).Slot.Index);
    }

    [Fact]
    public void RetryAfterHoldsTheHostUntilThenAndSaysWhenToLookAgain()
    {
        var scheduler = Create();
        Add(scheduler, 5, concurrency: 1, hosts: "busy.test");
        var first = Assert.Single(scheduler.Next(Now).Work);

        scheduler.Hold(first.Host, TimeSpan.FromSeconds(5), Now);
        scheduler.Complete(first, Now, takeNext: true);
        var held = scheduler.Next(Now);

        Assert.Empty(held.Work);
        Assert.Equal(TimeSpan.FromSeconds(5), held.WakeIn);

        _clock.Advance(TimeSpan.FromSeconds(4.9));
        Assert.Empty(scheduler.Next(Now).Work);

        _clock.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Equal(1, Assert.Single(scheduler.Next(Now).Work).Slot.Index);
    }

    [Fact]
    public void AShorterRetryAfterDoesNotCutALongerHoldShort()
    {
        var scheduler = Create();
        Add(scheduler, 5, concurrency: 2, hosts: "busy.test");
        var running = scheduler.Next(Now).Work;

        scheduler.Hold(running[0].Host, TimeSpan.FromSeconds(30), Now);
        scheduler.Hold(running[1].Host, TimeSpan.FromSeconds(1), Now);
        scheduler.Complete(running[0], Now, takeNext: false);
        scheduler.Complete(running[1], Now, takeNext: false);
        _clock.Advance(TimeSpan.FromSeconds(2));

        var decision = scheduler.Next(Now);
        Assert.Empty(decision.Work);
        Assert.Equal(TimeSpan.FromSeconds(28), decision.WakeIn);
    }

    [Fact]
    public void AHeldHostDoesNotBlockOtherHostsOfTheSameBatch()
    {
        var scheduler = Create();
        var id = Guid.NewGuid();
        scheduler.Add(id, 1, 4, [.. Slots(2, 0, "busy.test"), .. Slots(2, 2, "free.test")]);
        var first = Assert.Single(scheduler.Next(Now).Work);

        scheduler.Hold(first.Host, TimeSpan.FromMinutes(1), Now);
        scheduler.Complete(first, Now, takeNext: false);

        var next = Assert.Single(scheduler.Next(Now).Work);
        Assert.Equal("free.test:80", next.Host);
    }

    [Fact]
    public void HoldingAHostWithNothingInFlightChangesNothing()
    {
        var scheduler = Create();
        Add(scheduler, 2, concurrency: 1, hosts: "idle.test");

        scheduler.Hold("idle.test:80", TimeSpan.FromMinutes(1), Now);

        Assert.Single(scheduler.Next(Now).Work);
    }

    [Fact]
    public void OnlyAWindowOfSlotsIsHeldAndTheRestIsAskedForAsItDrains()
    {
        var scheduler = Create(window: 100);
        var id = Guid.NewGuid();
        scheduler.Add(id, 50, 1000, Slots(1000));
        var running = scheduler.Next(Now);
        Assert.Equal(50, running.Work.Count);
        Assert.Empty(running.Refills); // 50 of 100 still held: half the window

        var completion = scheduler.Complete(running.Work[0], Now, takeNext: true);
        Assert.Equal(50, completion.Next?.Slot.Index);
        Assert.True(completion.WakeLoop); // 49 held now: under half, the loop must ask the store

        var refill = Assert.Single(scheduler.Next(Now).Refills);
        Assert.Equal((id, 99, 51), (refill.BatchId, refill.AfterIndex, refill.Limit));
        Assert.Empty(scheduler.Next(Now).Refills); // one refill at a time
    }

    [Fact]
    public void WindowIsAtLeastTwiceTheBatchConcurrency()
    {
        var scheduler = Create(window: 16);

        Assert.Equal(16, scheduler.Window(4));
        Assert.Equal(200, scheduler.Window(100));
    }

    [Fact]
    public void RefilledSlotsAreDispatchedAfterTheHeldOnes()
    {
        var scheduler = Create(window: 16);
        var id = Guid.NewGuid();
        scheduler.Add(id, 16, 40, Slots(16));
        var decision = scheduler.Next(Now);
        var refill = Assert.Single(decision.Refills);

        scheduler.Refilled(id, Slots(refill.Limit, refill.AfterIndex + 1));
        foreach (var dispatch in decision.Work)
        {
            scheduler.Complete(dispatch, Now, takeNext: false);
        }

        Assert.Equal(Enumerable.Range(16, 16), scheduler.Next(Now).Work.Select(d => d.Slot.Index));
    }

    [Fact]
    public void AnEmptyRefillMeansTheRestWasFinalAndTheBatchEndsWhenItsFetchesDo()
    {
        var scheduler = Create(window: 16);
        var id = Guid.NewGuid();
        scheduler.Add(id, 16, 40, Slots(16));
        var decision = scheduler.Next(Now);

        Assert.False(scheduler.Refilled(id, []));
        Assert.Equal(0, scheduler.Backlog);
        var completions = decision.Work.Select(d => scheduler.Complete(d, Now, takeNext: true)).ToList();

        Assert.True(completions[^1].BatchEnded);
        Assert.All(completions[..^1], c => Assert.False(c.BatchEnded));
        Assert.False(scheduler.IsScheduled(id));
    }

    [Fact]
    public void AFailedRefillIsAskedForAgain()
    {
        var scheduler = Create(window: 16);
        var id = Guid.NewGuid();
        scheduler.Add(id, 16, 40, Slots(16));
        Assert.Single(scheduler.Next(Now).Refills);

        scheduler.RefillFailed(id);

        Assert.Single(scheduler.Next(Now).Refills);
    }

    [Fact]
    public void BacklogCountsSlotsNotYetDispatchedWhetherHeldOrInTheStore()
    {
        var scheduler = Create(global: 3, window: 16, maxBacklog: 100);
        scheduler.Add(Guid.NewGuid(), 20, 90, Slots(16));

        Assert.Equal(90, scheduler.Backlog);
        scheduler.Next(Now);
        Assert.Equal(87, scheduler.Backlog);
        Assert.True(scheduler.HasRoomFor(13));
        Assert.False(scheduler.HasRoomFor(14));
    }

    [Fact]
    public void CancelDropsWaitingSlotsAndTheBatchEndsWithItsLastFetch()
    {
        var scheduler = Create();
        var id = Add(scheduler, 10, concurrency: 2);
        var running = scheduler.Next(Now).Work;

        Assert.True(scheduler.Cancel(id, Now));

        Assert.Equal(0, scheduler.Backlog);
        Assert.Empty(scheduler.Next(Now).Work);
        Assert.Null(scheduler.Complete(running[0], Now, takeNext: true).Next);
        Assert.True(scheduler.Complete(running[1], Now, takeNext: true).BatchEnded);
        Assert.Equal(0, scheduler.ActiveBatches);
    }

    [Fact]
    public void ABatchCancelledBeforeItWasAddedNeverRuns()
    {
        var scheduler = Create();
        var id = Guid.NewGuid();

        Assert.False(scheduler.Cancel(id, Now));

        Assert.False(scheduler.Add(id, 20, 5, Slots(5)));
        Assert.Empty(scheduler.Next(Now).Work);
        Assert.Equal(0, scheduler.Backlog);
    }

    [Fact]
    public void EarlyCancelsAreForgottenAfterAMinute()
    {
        var scheduler = Create();
        var old = Guid.NewGuid();
        scheduler.Cancel(old, Now);

        _clock.Advance(TimeSpan.FromMinutes(2));
        scheduler.Cancel(Guid.NewGuid(), Now);

        Assert.True(scheduler.Add(old, 20, 1, Slots(1)));
    }

    [Fact]
    public void AddingABatchTwiceKeepsTheFirst()
    {
        var scheduler = Create();
        var id = Add(scheduler, 5);

        Assert.False(scheduler.Add(id, 20, 5, Slots(5)));
        Assert.Equal(5, scheduler.Backlog);
    }

    [Fact]
    public void ABatchWithNothingPendingIsNotAdded()
    {
        var scheduler = Create();

        Assert.False(scheduler.Add(Guid.NewGuid(), 20, 0, []));
        Assert.Equal(0, scheduler.ActiveBatches);
    }

    [Fact]
    public void EachBatchIsReportedStartedOnce()
    {
        var scheduler = Create(global: 1);
        var id = Add(scheduler, 3);
        var first = scheduler.Next(Now);
        scheduler.Complete(Assert.Single(first.Work), Now, takeNext: false);

        Assert.Equal([id], first.Started);
        Assert.Empty(scheduler.Next(Now).Started);
    }

    [Fact]
    public void AfterStopNothingIsDispatchedOrAdded()
    {
        var scheduler = Create();
        var id = Add(scheduler, 5, concurrency: 1);
        var running = Assert.Single(scheduler.Next(Now).Work);

        scheduler.Stop();

        Assert.Empty(scheduler.Next(Now).Work);
        Assert.Null(scheduler.Complete(running, Now, takeNext: true).Next);
        Assert.False(scheduler.Add(Guid.NewGuid(), 20, 1, Slots(1)));
        Assert.True(scheduler.IsScheduled(id));
    }

    [Theory]
    [InlineData("http://Example.TEST/a", "example.test:80")]
    [InlineData("https://example.test/a", "example.test:443")]
    [InlineData("http://example.test:8080/a", "example.test:8080")]
    [InlineData("http://bücher.test/", "xn--bcher-kva.test:80")]
    [InlineData("http://[::1]:81/", "::1:81")]
    public void HostsAreLimitedByNameAndPort(string url, string key)
    {
        Assert.Equal(key, Scheduler.HostKey(url));
    }

    [Fact]
    public void SameHostOnAnotherPortIsAnotherHost()
    {
        var scheduler = Create(perHost: 1);
        Add(scheduler, 4, hosts: ["a.test", "a.test:8080"]);

        Assert.Equal(2, scheduler.Next(Now).Work.Count);
    }

    [Fact]
    public void AFinishedFetchFreesItsHostForTheNextSlot()
    {
        var scheduler = Create(perHost: 1);
        Add(scheduler, 3, concurrency: 3, hosts: "one.test");
        var first = Assert.Single(scheduler.Next(Now).Work);

        scheduler.Complete(first, Now, takeNext: false);

        Assert.Equal(1, Assert.Single(scheduler.Next(Now).Work).Slot.Index);
    }

    [Fact]
    public void AHostWhoseFetchesEndedIsForgottenSoAHoldNeedsAFetchInFlight()
    {
        var scheduler = Create();
        Add(scheduler, 2, concurrency: 1, hosts: "gone.test");
        scheduler.Complete(Assert.Single(scheduler.Next(Now).Work), Now, takeNext: false);

        scheduler.Hold("gone.test:80", TimeSpan.FromMinutes(1), Now);

        Assert.Single(scheduler.Next(Now).Work);
    }

    [Fact]
    public void ADrainedHostLeavesTheTurnToTheOthers()
    {
        var scheduler = Create();
        var id = Guid.NewGuid();
        scheduler.Add(id, 10, 4, [.. Slots(1, 0, "a.test"), .. Slots(3, 1, "b.test")]);

        Assert.Equal(4, scheduler.Next(Now).Work.Count);
    }

    [Fact]
    public void AfterAHostRunsOutTheNextHostInTurnGoes()
    {
        var scheduler = Create();
        var id = Guid.NewGuid();
        scheduler.Add(id, 1, 11, [.. Slots(5, 0, "a.test"), .. Slots(1, 5, "b.test"), .. Slots(5, 6, "c.test")]);
        var hosts = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            var dispatch = Assert.Single(scheduler.Next(Now).Work);
            hosts.Add(dispatch.Host);
            scheduler.Complete(dispatch, Now, takeNext: false);
        }

        Assert.Equal(["a.test:80", "b.test:80", "c.test:80", "a.test:80"], hosts);
    }

    [Fact]
    public void AWindowIsToppedUpAgainEachTimeItDrains()
    {
        var scheduler = Create(window: 16);
        var id = Guid.NewGuid();
        scheduler.Add(id, 4, 100, Slots(16));
        var refills = new List<Refill>();
        var running = new Queue<Dispatch>(scheduler.Next(Now).Work);
        while (refills.Count < 2 && running.TryDequeue(out var done))
        {
            if (scheduler.Complete(done, Now, takeNext: true).Next is { } next)
            {
                running.Enqueue(next);
            }

            var decision = scheduler.Next(Now);
            decision.Work.ToList().ForEach(running.Enqueue);
            foreach (var refill in decision.Refills)
            {
                refills.Add(refill);
                scheduler.Refilled(id, Slots(refill.Limit, refill.AfterIndex + 1));
            }
        }

        Assert.Equal([15, 24], refills.Select(r => r.AfterIndex));
        Assert.Equal([9, 9], refills.Select(r => r.Limit));
    }

    [Fact]
    public void ARefillOverlappingWhatIsHeldAddsNoSlotTwice()
    {
        var scheduler = Create(window: 16);
        var id = Guid.NewGuid();
        scheduler.Add(id, 16, 40, Slots(16));
        var first = scheduler.Next(Now);
        var running = first.Work;
        var refill = Assert.Single(first.Refills);

        scheduler.Refilled(id, Slots(refill.Limit + 1, refill.AfterIndex));
        foreach (var dispatch in running)
        {
            scheduler.Complete(dispatch, Now, takeNext: false);
        }

        Assert.Equal(Enumerable.Range(16, 16), scheduler.Next(Now).Work.Select(d => d.Slot.Index));
    }

    [Fact]
    public void AnEmptyRefillWhileSlotsAreStillHeldKeepsThemInTheBacklog()
    {
        var scheduler = Create(window: 16);
        var id = Guid.NewGuid();
        scheduler.Add(id, 4, 40, Slots(16));
        scheduler.Next(Now); // 4 dispatched, 12 held, 24 in the store

        Assert.False(scheduler.Refilled(id, []));
        Assert.Equal(12, scheduler.Backlog);
    }

    [Fact]
    public void ABatchWhoseSlotsAllFitInTheWindowNeverAsksForMore()
    {
        var scheduler = Create(window: 16);
        var id = Add(scheduler, 10, concurrency: 2);

        for (var i = 0; i < 10; i++)
        {
            var decision = scheduler.Next(Now);
            Assert.Empty(decision.Refills);
            foreach (var dispatch in decision.Work)
            {
                scheduler.Complete(dispatch, Now, takeNext: false);
            }
        }

        Assert.False(scheduler.IsScheduled(id));
    }

    [Fact]
    public void AWindowOfOneSlotAsksForTheSlotsAfterIt()
    {
        var scheduler = Create(window: 16);
        var id = Guid.NewGuid();
        scheduler.Add(id, 20, 40, Slots(1));

        var decision = scheduler.Next(Now);

        Assert.Equal(0, Assert.Single(decision.Refills).AfterIndex);
        Assert.Equal(id, Assert.Single(decision.Work).BatchId);
    }

    [Fact]
    public void ABatchKeepsItsFreedSlotWhenTheOtherBatchesCannotUseOne()
    {
        var scheduler = Create(global: 10);
        var first = Add(scheduler, 10, concurrency: 2);
        var full = Add(scheduler, 10, concurrency: 1);
        var empty = Guid.NewGuid();
        scheduler.Offer(empty, 5, [new PendingSlot(0, "http://a.test/0")]);
        var running = scheduler.Next(Now).Work;
        scheduler.Complete(running.Single(d => d.BatchId == empty), Now, takeNext: false);

        var completion = scheduler.Complete(running.First(d => d.BatchId == first), Now, takeNext: true);

        Assert.Equal(first, completion.Next?.BatchId); // the full one is at its concurrency, the empty one has nothing waiting
        Assert.Equal(1, running.Count(d => d.BatchId == full));
    }

    [Fact]
    public void ClaimedSlotsAreDispatchedAndJoinABatchAlreadyRunning()
    {
        var scheduler = Create();
        var id = Guid.NewGuid();

        scheduler.Offer(id, 2, Slots(3));
        var first = scheduler.Next(Now).Work;
        scheduler.Offer(id, 2, Slots(2, 3));
        var atLimit = scheduler.Next(Now).Work;
        var completion = scheduler.Complete(first[0], Now, takeNext: true);

        Assert.Equal([0, 1], first.Select(d => d.Slot.Index));
        Assert.Empty(atLimit);
        Assert.Equal(2, completion.Next?.Slot.Index);
        Assert.Equal(2, scheduler.Backlog);
    }

    [Fact]
    public void SlotsClaimedForACancelledBatchAreNotRun()
    {
        var scheduler = Create();
        var id = Guid.NewGuid();
        scheduler.Offer(id, 2, Slots(2));
        var running = scheduler.Next(Now).Work;
        scheduler.Cancel(id, Now);

        scheduler.Offer(id, 2, Slots(2, 2));

        Assert.Empty(scheduler.Next(Now).Work);
        Assert.Equal(0, scheduler.Backlog);
        Assert.Equal(2, running.Count);
    }

    [Fact]
    public void TheEarliestHoldIsWhenToLookAgain()
    {
        var scheduler = Create();
        var id = Guid.NewGuid();
        scheduler.Add(id, 2, 4, [.. Slots(2, 0, "a.test"), .. Slots(2, 2, "b.test")]);
        var running = scheduler.Next(Now).Work;
        scheduler.Hold("a.test:80", TimeSpan.FromSeconds(9), Now);
        scheduler.Hold("b.test:80", TimeSpan.FromSeconds(3), Now);
        foreach (var dispatch in running)
        {
            scheduler.Complete(dispatch, Now, takeNext: false);
        }

        Assert.Equal(TimeSpan.FromSeconds(3), scheduler.Next(Now).WakeIn);
    }

    [Fact]
    public void RefillsOfABatchThatLeftAreIgnored()
    {
        var scheduler = Create();

        Assert.False(scheduler.Refilled(Guid.NewGuid(), Slots(3)));
        Assert.Equal(0, scheduler.Backlog);
    }

    [Fact]
    public void APacedHostWhoseFetchEndedBeforeItsNextSlotIsForgottenOnceItsHoldHasEnded()
    {
        var scheduler = Create();
        Add(scheduler, 1, hosts: "paced.test");
        var only = Assert.Single(scheduler.Next(Now).Work);
        scheduler.Hold(only.Host, TimeSpan.FromSeconds(1), Now); // its rate: no room for another start for 1 s

        _clock.Advance(TimeSpan.FromMilliseconds(10));
        scheduler.Complete(only, Now, takeNext: true);
        var idle = scheduler.Next(Now);

        Assert.Equal(1, scheduler.Hosts);
        // Nothing waits, but the loop is asked back once the hold has ended, to remove the entry.
        Assert.Equal(TimeSpan.FromSeconds(0.99) + Scheduler.IdleHoldSlack, idle.WakeIn);

        _clock.Advance(idle.WakeIn!.Value);
        var after = scheduler.Next(Now);
        Assert.Equal(0, scheduler.Hosts);
        Assert.Null(after.WakeIn);
    }

    [Fact]
    public void ManyPacedHostsLeaveNoEntryBehind()
    {
        var scheduler = Create(global: 20_000);
        var hosts = Enumerable.Range(0, 2000).Select(n => $"h{n}.localhost").ToArray();
        Add(scheduler, hosts.Length, concurrency: hosts.Length, hosts: hosts);
        var work = scheduler.Next(Now).Work;
        Assert.Equal(hosts.Length, work.Count);
        foreach (var dispatch in work)
        {
            scheduler.Hold(dispatch.Host, TimeSpan.FromSeconds(1), Now);
            scheduler.Complete(dispatch, Now + TimeSpan.FromMilliseconds(5), takeNext: true);
        }

        Assert.Equal(hosts.Length, scheduler.Hosts);

        _clock.Advance(TimeSpan.FromSeconds(1));
        scheduler.Next(Now);
        Assert.Equal(0, scheduler.Hosts);
    }

    [Fact]
    public void AHoldMadeLongerWhileTheHostIsIdleKeepsItsEntryUntilTheLaterEnd()
    {
        var scheduler = Create();
        Add(scheduler, 1, hosts: "held.test");
        var first = Assert.Single(scheduler.Next(Now).Work);
        scheduler.Hold(first.Host, TimeSpan.FromSeconds(1), Now);
        scheduler.Complete(first, Now, takeNext: false);
        scheduler.Hold(first.Host, TimeSpan.FromSeconds(5), Now); // a Retry-After from another fetch's answer

        _clock.Advance(TimeSpan.FromSeconds(2));
        Add(scheduler, 1, hosts: "held.test");
        var during = scheduler.Next(Now);
        Assert.Empty(during.Work);
        Assert.Equal((1, TimeSpan.FromSeconds(3)), (scheduler.Hosts, during.WakeIn));

        _clock.Advance(TimeSpan.FromSeconds(3));
        var next = Assert.Single(scheduler.Next(Now).Work);
        scheduler.Complete(next, Now, takeNext: false);
        Assert.Equal(0, scheduler.Hosts);
    }

    [Fact]
    public void AHostBusyAgainAfterItsHoldIsNotForgottenWhileItsFetchRuns()
    {
        var scheduler = Create(perHost: 1);
        Add(scheduler, 1, hosts: "again.test");
        var first = Assert.Single(scheduler.Next(Now).Work);
        scheduler.Hold(first.Host, TimeSpan.FromSeconds(1), Now);
        scheduler.Complete(first, Now, takeNext: false);

        _clock.Advance(TimeSpan.FromSeconds(1.5));
        Add(scheduler, 2, hosts: "again.test");
        var running = Assert.Single(scheduler.Next(Now).Work);

        _clock.Advance(TimeSpan.FromSeconds(5));
        Assert.Empty(scheduler.Next(Now).Work); // the per-host limit (1) still counts the running fetch
        Assert.Equal(1, scheduler.Hosts);

        scheduler.Complete(running, Now, takeNext: false);
        Assert.Single(scheduler.Next(Now).Work);
    }
}
