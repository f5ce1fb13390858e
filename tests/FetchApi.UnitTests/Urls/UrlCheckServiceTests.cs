using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using FetchApi.Batches;
using FetchApi.Security;
using FetchApi.Urls;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace FetchApi.UnitTests.Urls;

/// <summary>Resolving names for a check, with a table for DNS: each name once, a few at a time, never past its time.</summary>
public sealed class UrlCheckServiceTests
{
    static readonly UrlCheckOptions Defaults = new();

    /// <summary>A DNS stand-in that answers from a table and counts its lookups.</summary>
    sealed class FakeDns(Dictionary<string, string[]> table)
    {
        public ConcurrentBag<string> Lookups { get; } = [];

        public Task<IPAddress[]> LookupAsync(string host, CancellationToken cancellationToken)
        {
            Lookups.Add(host);
            return table.TryGetValue(host, out var addresses)
                ? Task.FromResult(addresses.Select(IPAddress.Parse).ToArray())
                : Task.FromException<IPAddress[]>(new SocketException((int)SocketError.HostNotFound));
        }
    }

    static UrlCheckService Service(HostLookup lookup, UrlCheckOptions? options = null, TimeProvider? time = null) => new(
        new UrlVerdicts(new AddressPolicy(Options.Create(new SecurityOptions()))),
        new NameResolver(lookup, Options.Create(options ?? Defaults), time ?? TimeProvider.System),
        Options.Create(new UrlLimits()));

    static readonly Dictionary<string, string[]> Table = new()
    {
        ["public.test"] = ["93.184.215.14"],
        ["private.test"] = ["93.184.215.14", "192.168.1.10"],
    };

    [Fact]
    public async Task WithoutResolveNothingIsLookedUp()
    {
        var dns = new FakeDns(Table);

        var report = await Service(dns.LookupAsync).CheckAsync(["https://private.test/"], resolve: false, TestContext.Current.CancellationToken);

        Assert.Empty(dns.Lookups);
        Assert.Equal(UrlVerdict.Allowed, Assert.Single(report.Results).Verdict);
    }

    [Fact]
    public async Task WithResolveEachNameIsLookedUpOnceAndEveryAddressJudged()
    {
        var dns = new FakeDns(Table);
        string[] urls =
        [
            "https://public.test/a", "https://private.test/", "http://PUBLIC.test:8080/b", "https://unknown.test/",
            "http://localhost/", "http://127.0.0.1/", "ftp://public.test/",
        ];

        var report = await Service(dns.LookupAsync).CheckAsync(urls, resolve: true, TestContext.Current.CancellationToken);

        Assert.Equal(["private.test", "public.test", "unknown.test"], dns.Lookups.Order(StringComparer.Ordinal));
        Assert.Equal(
            [UrlVerdict.Allowed, UrlVerdict.Blocked, UrlVerdict.Allowed, UrlVerdict.Allowed, UrlVerdict.Blocked, UrlVerdict.Blocked, UrlVerdict.Invalid],
            report.Results.Select(r => r.Verdict));
        Assert.Equal("private.test resolves to 93.184.215.14, 192.168.1.10; 192.168.1.10 is in 192.168.0.0/16 (private)", report.Results[1].Reason);
        Assert.Equal(["93.184.215.14"], report.Results[2].Addresses);
        Assert.StartsWith("unknown.test did not resolve (no such host)", report.Results[3].Reason, StringComparison.Ordinal);
        Assert.Equal(new UrlCheckCounts(7, 3, 3, 1, 0), report.Counts);
    }

    [Fact]
    public async Task NoMoreLookupsInFlightThanConfigured()
    {
        var (inFlight, most) = (0, 0);
        async Task<IPAddress[]> SlowLookup(string host, CancellationToken cancellationToken)
        {
            var now = Interlocked.Increment(ref inFlight);
            InterlockedMax(ref most, now);
            await Task.Delay(10, cancellationToken);
            Interlocked.Decrement(ref inFlight);
            return [IPAddress.Parse("93.184.215.14")];
        }

        var urls = Enumerable.Range(0, 40).Select(i => (string?)$"https://host{i}.test/").ToList();
        var report = await Service(SlowLookup, new UrlCheckOptions { ResolveConcurrency = 4 })
            .CheckAsync(urls, resolve: true, TestContext.Current.CancellationToken);

        Assert.All(report.Results, r => Assert.Equal(UrlVerdict.Allowed, r.Verdict));
        Assert.InRange(most, 1, 4);
    }

    static void InterlockedMax(ref int target, int value)
    {
        for (var seen = Volatile.Read(ref target); value > seen; seen = Volatile.Read(ref target))
        {
            if (Interlocked.CompareExchange(ref target, value, seen) == seen)
            {
                return;
            }
        }
    }

    static async Task<UrlCheckReport> RunWithSilentDnsAsync(UrlCheckOptions options)
    {
        var time = new FakeTimeProvider();
        static async Task<IPAddress[]> Silent(string host, CancellationToken cancellationToken)
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
            return [];
        }

        var check = Service(Silent, options, time).CheckAsync(["https://slow.test/"], resolve: true, TestContext.Current.CancellationToken);
        // Time moves only when told to: step it until the check gives up on DNS.
        for (var step = 0; !check.IsCompleted && step < 600; step++)
        {
            time.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Delay(1, TestContext.Current.CancellationToken);
        }

        return await check;
    }

    [Fact]
    public async Task LookupWithoutAnAnswerEndsAtTheResolveTimeout()
    {
        var report = await RunWithSilentDnsAsync(new UrlCheckOptions { ResolveTimeout = TimeSpan.FromSeconds(5) });

        var check = Assert.Single(report.Results);
        Assert.Equal(UrlVerdict.Allowed, check.Verdict);
        Assert.StartsWith("slow.test did not resolve (no answer within 5 s)", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LookupsStillRunningWhenTheBudgetRunsOutAreReportedAsNotResolved()
    {
        var report = await RunWithSilentDnsAsync(new UrlCheckOptions { ResolveTimeout = TimeSpan.FromSeconds(50), ResolveBudget = TimeSpan.FromSeconds(2) });

        Assert.StartsWith("slow.test did not resolve (this check's time for DNS (2 s) ran out)",
            Assert.Single(report.Results).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void UrlLimitsDefaultToTheBatchLimits()
    {
        var fromBatches = new BatchLimits().UrlLimits();
        var defaults = new UrlLimits();

        Assert.Equal((fromBatches.MaxUrls, fromBatches.MaxUrlLength), (defaults.MaxUrls, defaults.MaxUrlLength));
    }
}
