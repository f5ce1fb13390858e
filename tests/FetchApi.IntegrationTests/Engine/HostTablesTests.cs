using System.Diagnostics.Metrics;
using FetchApi.Telemetry;

namespace FetchApi.IntegrationTests.Engine;

/// <summary>
/// Per-host state follows the hosts active recently: thousands of distinct hosts (names under <c>.localhost</c>, which
/// reach the loopback upstream) fetched politely fill the rate and robots.txt tables, and once the hosts are idle past
/// the cache duration the tables are empty again, as <c>fetchapi.hosts.tracked</c> shows.
/// </summary>
public sealed class HostTablesTests
{
    const int Hosts = 3000;

    [Fact]
    public async Task ThousandsOfPoliteHostsLeaveNoRateOrRobotsEntryOnceIdlePastTheCacheDuration()
    {
        await using var service = new ServiceWithUpstream(new Dictionary<string, string?> { ["Engine:RobotsCacheDuration"] = "00:00:03" });
        await service.InitializeAsync();
        service.Upstream.Robots = (200, "User-agent: *\nDisallow: /private\n");
        using var tracked = new TrackedHosts(service.Factory.Services.GetRequiredService<IMeterFactory>());
        var port = service.Upstream.BaseAddress.Port;

        var id = await service.Client.SubmitAsync(Enumerable.Range(0, Hosts).Select(n => $"http://h{n}.localhost:{port}/ok?n={n}"),
            new { perHostRequestsPerSecond = 20, respectRobotsTxt = true, concurrency = 200, maxAttempts = 1 });
        var peak = (Rates: 0L, Robots: 0L);
        await Api.EventuallyAsync(async () =>
        {
            var (rates, robots) = (tracked.Now("rates"), tracked.Now("robots"));
            peak = (Math.Max(peak.Rates, rates), Math.Max(peak.Robots, robots));
            var summary = await service.Client.GetJsonAsync($"/batches/{id}?results=false");
            return summary["status"]!.GetValue<string>() == "completed";
        }, "the batch did not complete", TimeSpan.FromSeconds(60));

        var summary = await service.Client.GetJsonAsync($"/batches/{id}?results=false");
        Assert.Equal(Hosts, summary["counts"]!["fetched"]!.GetValue<int>());
        Assert.Equal(Hosts, service.Upstream.Arrivals.Count(a => a.PathAndQuery == "/robots.txt"));
        Assert.True(peak.Rates > Hosts / 10 && peak.Robots > Hosts / 10, $"the tables never filled: peak {peak}");

        // Idle now: the rates go after their share window, robots.txt after its cache duration (3 s); nothing sleeps.
        await Api.EventuallyAsync(() => tracked.Now("rates") == 0 && tracked.Now("robots") == 0,
            $"the tables did not drain: rates {tracked.Now("rates")}, robots {tracked.Now("robots")} (peak {peak})", TimeSpan.FromSeconds(15));
    }

    /// <summary>Reads <c>fetchapi.hosts.tracked</c> of one service (its own meter scope) on demand.</summary>
    sealed class TrackedHosts : IDisposable
    {
        readonly MeterListener _listener = new();
        readonly Dictionary<string, long> _latest = [];

        public TrackedHosts(IMeterFactory scope)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == FetchMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, scope)
                    && instrument.Name == "fetchapi.hosts.tracked")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                foreach (var tag in tags)
                {
                    if (tag is { Key: "table", Value: string table })
                    {
                        _latest[table] = value;
                    }
                }
            });
            _listener.Start();
        }

        /// <summary>How many hosts <paramref name="table"/> holds now.</summary>
        public long Now(string table)
        {
            lock (_latest)
            {
                _latest.Clear();
                _listener.RecordObservableInstruments();
                return _latest.TryGetValue(table, out var value) ? value : -1;
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}
