using System.ComponentModel.DataAnnotations;

namespace FetchApi.Storage;

/// <summary>Where batches are kept (section <c>Storage</c>).</summary>
public sealed class StorageOptions
{
    public const string Section = "Storage";

    /// <summary>SQLite connection string. The file's folder is created on start.</summary>
    [Required] public string ConnectionString { get; set; } = "Data Source=data/fetchapi.db";

    /// <summary>How long a write waits for another writer's lock before the store reports itself unavailable.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")] public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often ended batches past their retention are looked for.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "1.00:00:00")] public TimeSpan RetentionSweepInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How long a batch is kept after it ended.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "3650.00:00:00")] public TimeSpan Retention { get; set; } = TimeSpan.FromDays(7);
}
