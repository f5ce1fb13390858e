using System.ComponentModel.DataAnnotations;

namespace FetchApi.Engine;

/// <summary>How the fetch engine runs (section <c>Engine</c>).</summary>
public sealed class EngineOptions
{
    public const string Section = "Engine";

    /// <summary>Most fetches in flight across all batches.</summary>
    [Range(1, 100_000)] public int GlobalConcurrency { get; set; } = 256;

    /// <summary>Most fetches in flight to one host (host:port), across all batches.</summary>
    [Range(1, 100_000)] public int PerHostConcurrency { get; set; } = 8;

    /// <summary>Most request starts per second to one host (host:port), across batches; 0: no limit. Batches may ask for less.</summary>
    [Range(0, 100_000)] public double PerHostRequestsPerSecond { get; set; }

    /// <summary>Whether batches that do not say obey robots.txt.</summary>
    public bool RespectRobotsTxtDefault { get; set; }

    /// <summary>How long a host's robots.txt is kept (shared by every batch); an unreachable one is asked again sooner.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")] public TimeSpan RobotsCacheDuration { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Sent on every request, robots.txt included, unless a batch sets its own; its product token picks the robots.txt group.</summary>
    public string UserAgent { get; set; } = "";

    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")] public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>First retry delay; later ones double, with jitter.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")] public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(0.5);

    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")] public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest upstream <c>Retry-After</c> we wait for; beyond it the slot ends with that response.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")] public TimeSpan MaxRetryAfter { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Most URLs waiting to be fetched, all batches together; beyond it <c>POST /batches</c> answers 503.</summary>
    [Range(1, int.MaxValue)] public int MaxBacklog { get; set; } = 1_000_000;

    /// <summary>Most pending slots of one batch held in memory (at least twice its concurrency); the rest wait in the store.</summary>
    [Range(16, 1_000_000)] public int WindowSize { get; set; } = 1000;

    /// <summary>Most slot results written in one transaction.</summary>
    [Range(1, 100_000)] public int WriteBatchSize { get; set; } = 500;

    /// <summary>
    /// Results fetched but not yet written, at most: past it (the store is locked, full or read-only) no new fetch
    /// starts until the writer catches up, so memory stays bounded however long the store refuses.
    /// </summary>
    [Range(1, 10_000_000)] public int MaxUnwrittenResults { get; set; } = 10_000;

    /// <summary>
    /// How long the writer waits, when fewer than an eighth of <see cref="WriteBatchSize"/> results are queued, for more to
    /// join the same transaction (group commit); zero: each transaction takes only what is queued when it starts.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:01")] public TimeSpan WriteLinger { get; set; } = TimeSpan.FromMilliseconds(2);

    /// <summary>Largest response header block accepted, in KiB; beyond it the slot fails with <c>protocol_error</c>.</summary>
    [Range(1, 1024)] public int MaxResponseHeadersKiB { get; set; } = 64;

    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")] public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Threads of the CPU stage that reads HTML pages (<c>options.extract</c>); 0: one per processor.</summary>
    [Range(0, 1024)] public int CpuWorkers { get; set; }

    /// <summary>Fetched pages waiting for the CPU stage, at most; a fetch that finds the queue full waits for room.</summary>
    [Range(1, 100_000)] public int CpuQueueCapacity { get; set; } = 32;

    /// <summary>Longest time one page may take to read; beyond it the slot gets <c>extracted.error</c>.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:10:00")] public TimeSpan ExtractTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>This node's name in a cluster (leases, logs, metrics, traces); empty: the host name and the process id.</summary>
    public string NodeId { get; set; } = "";

    /// <summary>How long a claim on a slot lasts without renewal (several nodes); renewed every third of it while fetching.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")] public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Shortest pause between two claims of one node (several nodes): claims go in groups, not one per URL.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:10")] public TimeSpan ClaimInterval { get; set; } = TimeSpan.FromMilliseconds(5);

    /// <summary>Longest pause between two claims of an idle node (several nodes): how soon it sees work others stored.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")] public TimeSpan IdleClaimInterval { get; set; } = TimeSpan.FromSeconds(1);
}
