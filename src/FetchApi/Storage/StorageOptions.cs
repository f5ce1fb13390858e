using System.ComponentModel.DataAnnotations;

namespace FetchApi.Storage;

/// <summary>Where batches are kept (section <c>Storage</c>).</summary>
public sealed class StorageOptions
{
    public const string Section = "Storage";

    /// <summary>SQLite connection string. The file's folder is created on start.</summary>
    [Required] public string ConnectionString { get; set; } = "Data Source=data/fetchapi.db";

    /// <summary>How long a batch is kept after it ended.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "3650.00:00:00")] public TimeSpan Retention { get; set; } = TimeSpan.FromDays(7);
}
