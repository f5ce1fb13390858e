using System.ComponentModel.DataAnnotations;

namespace FetchApi.Callbacks;

/// <summary>Batch callbacks (section <c>Callbacks</c>).</summary>
public sealed class CallbackOptions
{
    public const string Section = "Callbacks";

    /// <summary>How long after a batch ended its callback is still retried.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")] public TimeSpan MaxAge { get; set; } = TimeSpan.FromHours(24);

    /// <summary>First delay between the quick retries of one delivery round (Polly; doubles, with jitter).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")] public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Delay before the second round; doubles each round, at most an hour.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")] public TimeSpan RoundDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Timeout of one delivery attempt.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")] public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often due callbacks are looked for, besides right after a batch ends.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")] public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(5);
}
