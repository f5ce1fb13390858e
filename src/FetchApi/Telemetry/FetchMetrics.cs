using System.Diagnostics.Metrics;
using FetchApi.Model;

namespace FetchApi.Telemetry;

/// <summary>
/// The <c>FetchApi</c> meter. Names follow OpenTelemetry conventions; Prometheus shows them as
/// <c>fetchapi_fetches_total</c>, <c>fetchapi_fetch_duration_seconds</c>, ...
/// </summary>
public sealed class FetchMetrics
{
    public const string MeterName = "FetchApi";

    readonly Counter<long> _fetches;
    readonly Histogram<double> _duration;
    readonly Counter<long> _attempts;
    readonly Counter<long> _bytes;
    readonly Counter<long> _batches;
    readonly Counter<long> _rateLimited;
    readonly Counter<long> _leases;
    readonly Counter<long> _slowDowns;
    Func<long> _slowedHosts = () => 0;
    Func<long> _robotsFetches = () => 0;
    readonly Histogram<double> _extractDuration;
    Func<long> _inFlight = () => 0;
    Func<long> _backlog = () => 0;
    Func<long> _extractQueued = () => 0;
    Func<long> _extractBusy = () => 0;
    readonly Lock _hostTablesGate = new();
    KeyValuePair<string, Func<long>>[] _hostTables = [];

    public FetchMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        _fetches = meter.CreateCounter<long>("fetchapi.fetches", "{fetch}", "Slots that became final, by outcome and error code");
        _duration = meter.CreateHistogram<double>("fetchapi.fetch.duration", "s", "Time from a slot's first attempt to its result",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120] });
        _attempts = meter.CreateCounter<long>("fetchapi.fetch.attempts", "{attempt}", "HTTP attempts, retries included");
        _bytes = meter.CreateCounter<long>("fetchapi.fetch.bytes", "By", "Response body bytes read, after decompression");
        _batches = meter.CreateCounter<long>("fetchapi.batches", "{batch}", "Batches by the status they reached (queued on creation)");
        _rateLimited = meter.CreateCounter<long>("fetchapi.rate_limit.rejections", "{request}", "Requests refused with 429, by policy");
        _leases = meter.CreateCounter<long>("fetchapi.leases", "{slot}", "Slot leases of this node (several nodes), by event: claimed, renewed, taken_over");
        meter.CreateObservableUpDownCounter("fetchapi.fetches.in_flight", () => _inFlight(), "{fetch}", "Fetches running now");
        _slowDowns = meter.CreateCounter<long>("fetchapi.hosts.slow_downs", "{event}", "Times a host pushed back (429/503 without Retry-After) and was slowed down");
        meter.CreateObservableUpDownCounter("fetchapi.hosts.slowed", () => _slowedHosts(), "{host}", "Hosts the adaptive rule slows down now");
        meter.CreateObservableUpDownCounter("fetchapi.hosts.tracked", ObserveHostTables, "{host}",
            "Hosts each per-host table keeps now, by table (rates, robots, scheduler): bounded by the hosts active recently");
        meter.CreateObservableCounter("fetchapi.robots.fetches", () => _robotsFetches(), "{request}", "robots.txt requests made (one per origin and cache period)");
        meter.CreateObservableUpDownCounter("fetchapi.backlog", () => _backlog(), "{url}", "URLs accepted and not yet handed to a fetch");
        _extractDuration = meter.CreateHistogram<double>("fetchapi.extract.duration", "s",
            "Time the CPU stage took to read one HTML page (options.extract), by outcome and by the thread it ran on (always the stage's)",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] });
        meter.CreateObservableUpDownCounter("fetchapi.extract.queue", () => _extractQueued(), "{page}", "Pages waiting for the CPU stage");
        meter.CreateObservableUpDownCounter("fetchapi.extract.busy", () => _extractBusy(), "{worker}", "CPU stage workers reading a page now");
    }

    /// <summary>Called by the engine once, so that the gauges read its live numbers.</summary>
    public void Observe(Func<long> inFlight, Func<long> backlog) => (_inFlight, _backlog) = (inFlight, backlog);

    /// <summary>Called by the politeness rules once, so that their gauges read live numbers (no per-host label: hosts are unbounded).</summary>
    public void ObservePoliteness(Func<long> slowedHosts, Func<long> robotsFetches) => (_slowedHosts, _robotsFetches) = (slowedHosts, robotsFetches);

    public void SlowedDown() => _slowDowns.Add(1);

    /// <summary>Called once by the owner of a per-host table, so that <c>fetchapi.hosts.tracked{table}</c> reads its live size.</summary>
    public void ObserveHosts(string table, Func<long> hosts)
    {
        lock (_hostTablesGate)
        {
            _hostTables = [.. _hostTables.Where(t => t.Key != table), new(table, hosts)];
        }
    }

    IEnumerable<Measurement<long>> ObserveHostTables() =>
        Volatile.Read(ref _hostTables).Select(t => new Measurement<long>(t.Value(), new KeyValuePair<string, object?>("table", t.Key)));

    /// <summary>Called by the CPU stage once, so that its gauges read its live numbers.</summary>
    public void ObserveCpuStage(Func<long> queued, Func<long> busy) => (_extractQueued, _extractBusy) = (queued, busy);

    /// <summary>One page read by the CPU stage; <paramref name="onStageThread"/> says whether it ran on one of the stage's own threads.</summary>
    public void Extracted(TimeSpan elapsed, bool succeeded, bool onStageThread) =>
        _extractDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("outcome", succeeded ? "ok" : "error"),
            new KeyValuePair<string, object?>("thread", onStageThread ? "cpu_stage" : "other"));

    public void Fetched(SlotResult slot)
    {
        var outcome = new KeyValuePair<string, object?>("outcome", slot.State switch
        {
            SlotState.Fetched => "fetched",
            SlotState.Failed => "failed",
            _ => "cancelled",
        });
        if (slot.Error is { } error)
        {
            _fetches.Add(1, outcome, new KeyValuePair<string, object?>("error.code", ErrorCodeName(error.Code)));
        }
        else
        {
            _fetches.Add(1, outcome);
        }

        _attempts.Add(slot.Attempts);
        if (slot.DurationMs is { } ms)
        {
            _duration.Record(ms / 1000.0, outcome);
        }

        if (slot.Response is { ContentLength: > 0 } response)
        {
            _bytes.Add(response.ContentLength);
        }
    }

    public void Batches(BatchStatus status, int count = 1) =>
        _batches.Add(count, new KeyValuePair<string, object?>("status", status.ToString().ToLowerInvariant()));

    public void Leases(string kind, int count)
    {
        if (count > 0)
        {
            _leases.Add(count, new KeyValuePair<string, object?>("event", kind));
        }
    }

    public void RateLimited(string? policy) => _rateLimited.Add(1, new KeyValuePair<string, object?>("policy", policy ?? "unknown"));

    static readonly Dictionary<FetchErrorCode, string> WireNames = Enum.GetValues<FetchErrorCode>()
        .ToDictionary(c => c, c => System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(c.ToString()));

    /// <summary>The wire name of an error code: <c>blocked_address</c> (computed once, not per failed fetch).</summary>
    public static string ErrorCodeName(FetchErrorCode code) => WireNames[code];
}
