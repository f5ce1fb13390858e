using System.ComponentModel.DataAnnotations;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace FetchApi.Storage;

/// <summary>Which store keeps the batches.</summary>
public enum StorageProvider
{
    /// <summary>An embedded SQLite file: one node, nothing to install.</summary>
    Sqlite,

    /// <summary>A PostgreSQL database shared by several nodes.</summary>
    Postgres,
}

/// <summary>Where batches are kept (section <c>Storage</c>).</summary>
public sealed class StorageOptions : IValidatableObject
{
    public const string Section = "Storage";

    /// <summary><c>Sqlite</c> (one node, the default) or <c>Postgres</c> (several nodes).</summary>
    public StorageProvider Provider { get; set; } = StorageProvider.Sqlite;

    /// <summary>
    /// In the provider's own syntax: <c>Data Source=data/fetchapi.db</c> for SQLite (the file's folder is created on
    /// start), <c>Host=…;Username=…;Password=…;Database=…</c> for PostgreSQL.
    /// </summary>
    [Required] public string ConnectionString { get; set; } = "Data Source=data/fetchapi.db";

    /// <summary>How long a write waits for another writer's lock before the store reports itself unavailable.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")] public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often ended batches past their retention are looked for.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "1.00:00:00")] public TimeSpan RetentionSweepInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How long a batch is kept after it ended.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "3650.00:00:00")] public TimeSpan Retention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>
    /// SQLite: bytes kept free beside the database file (<c>&lt;file&gt;.reserve</c>) and released when the disk fills, so
    /// that deleting and cancelling batches still work on a full disk. 0 keeps no reserve.
    /// </summary>
    [Range(0, 1L << 40)] public long DiskReserveBytes { get; set; } = 64L * 1024 * 1024;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        string? problem = null;
        try
        {
            if (Provider == StorageProvider.Postgres)
            {
                var builder = new NpgsqlConnectionStringBuilder(ConnectionString);
                problem = string.IsNullOrEmpty(builder.Host) ? "names no Host (PostgreSQL syntax: Host=…;Username=…;Database=…)" : null;
            }
            else
            {
                var builder = new SqliteConnectionStringBuilder(ConnectionString);
                problem = string.IsNullOrEmpty(builder.DataSource) ? "names no Data Source (SQLite syntax: Data Source=path/to/file.db)" : null;
            }
        }
        catch (ArgumentException e)
        {
            problem = $"is not a {Provider} connection string: {e.Message}";
        }

        if (problem is not null)
        {
            yield return new ValidationResult($"Storage:ConnectionString {problem}.", [nameof(ConnectionString)]);
        }
    }
}
