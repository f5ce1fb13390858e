using FetchApi.Engine;
using FetchApi.Model;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace FetchApi.Storage;

/// <summary>
/// The PostgreSQL database that several nodes share, through one <see cref="NpgsqlDataSource"/> (a pool per node).
/// Timestamps are Unix milliseconds, enums their numbers, options JSON text, as in the SQLite file. Every write
/// transaction that touches slots takes the <c>done_seq</c> counter row first, so writers of all nodes queue on one
/// row instead of deadlocking on each other's slot and batch rows.
/// </summary>
public sealed class PostgresDatabase : IAsyncDisposable
{
    public PostgresDatabase(IOptions<StorageOptions> storage, IOptions<EngineOptions> engine)
    {
        var builder = new NpgsqlDataSourceBuilder(storage.Value.ConnectionString);
        builder.ConnectionStringBuilder.ApplicationName ??= $"fetchapi {engine.Value.NodeId}";
        builder.ConnectionStringBuilder.CommandTimeout = Math.Max(1, (int)storage.Value.BusyTimeout.TotalSeconds * 6);
        // No session state is ever left on a pooled connection (transactions end, advisory locks are released), so the
        // reset statement Npgsql sends on every reuse is a round trip for nothing.
        builder.ConnectionStringBuilder.NoResetOnClose = true;
        // Statements are not prepared: a prepared statement gets a generic plan after five runs, and the writer's and the
        // claim's generic plans sometimes scanned every slot of the batch per result (one run of three fell from ~5,000 to
        // ~300 fetches/s, 69 s of server CPU for 20,000 URLs). Planning each time costs less than that risk.
        ListenConnectionString = new NpgsqlConnectionStringBuilder(builder.ConnectionString) { Pooling = false, KeepAlive = 10 }.ConnectionString;
        DataSource = builder.Build();
        NodeId = engine.Value.NodeId;
        Incarnation = $"{NodeId}#{Guid.NewGuid():N}";
        LeaseDuration = engine.Value.LeaseDuration;
    }

    /// <summary>
    /// This process's name in the cluster: the node id and a random part. Leases are held by the incarnation, not by the
    /// id, so that a process restarted under the same id never mistakes its predecessor's leases for its own.
    /// </summary>
    public string Incarnation { get; }

    public NpgsqlDataSource DataSource { get; }

    /// <summary>For the one long-lived <c>LISTEN</c> connection: never pooled, so its session state never reaches a request.</summary>
    public string ListenConnectionString { get; }

    /// <summary>This node's name: the owner of its leases.</summary>
    public string NodeId { get; }

    public TimeSpan LeaseDuration { get; }

    /// <summary>Channel of <c>NOTIFY</c>: <c>new:&lt;id&gt;</c>, <c>changed:&lt;id&gt;,…</c>, <c>cancel:&lt;id&gt;</c>.</summary>
    public const string Channel = "fetchapi";

    // Advisory lock keys (pg_advisory_lock), one per cluster-wide singleton.
    public const long MigrationLock = 0x66657463_68617069;
    public const long ClaimLock = MigrationLock + 1;
    public const long RetentionLock = MigrationLock + 2;

    // Connection failures, shutdown, disk full or read-only: the database cannot take the request now.
    static bool IsUnavailable(NpgsqlException e) =>
        e.IsTransient || (e is PostgresException p && (p.SqlState.StartsWith("53", StringComparison.Ordinal)
            || p.SqlState.StartsWith("57P", StringComparison.Ordinal) || p.SqlState.StartsWith("08", StringComparison.Ordinal) || p.SqlState == "25006"));

    /// <summary>Runs <paramref name="work"/> on a pooled connection, reporting an unavailable database as <see cref="StoreUnavailableException"/>.</summary>
    public async Task<T> RunAsync<T>(Func<NpgsqlConnection, Task<T>> work, CancellationToken ct)
    {
        try
        {
            await using var c = await DataSource.OpenConnectionAsync(ct);
            return await work(c);
        }
        catch (NpgsqlException e) when (IsUnavailable(e))
        {
            throw new StoreUnavailableException(e);
        }
    }

    /// <summary>Runs <paramref name="work"/> in a transaction that it commits.</summary>
    public Task<T> InTransactionAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken ct) =>
        RunAsync(async c =>
        {
            await using var tx = await c.BeginTransactionAsync(ct);
            var result = await work(c, tx);
            await tx.CommitAsync(ct);
            return result;
        }, ct);

    public static NpgsqlCommand Command(NpgsqlConnection c, NpgsqlTransaction? tx, string sql, params NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlCommand(sql, c, tx);
        command.Parameters.AddRange(parameters);
        return command;
    }

    public static async Task<int> ExecuteAsync(NpgsqlConnection c, NpgsqlTransaction? tx, string sql, CancellationToken ct,
        params NpgsqlParameter[] parameters)
    {
        await using var command = Command(c, tx, sql, parameters);
        return await command.ExecuteNonQueryAsync(ct);
    }

    public static async Task<long> ScalarAsync(NpgsqlConnection c, NpgsqlTransaction? tx, string sql, CancellationToken ct,
        params NpgsqlParameter[] parameters)
    {
        await using var command = Command(c, tx, sql, parameters);
        return Convert.ToInt64(await command.ExecuteScalarAsync(ct), System.Globalization.CultureInfo.InvariantCulture);
    }

    public static NpgsqlParameter P(string name, object? value, NpgsqlDbType type) => new(name, type) { Value = value ?? DBNull.Value };

    public static NpgsqlParameter Text(string name, string? value) => P(name, value, NpgsqlDbType.Text);

    public static NpgsqlParameter Number(string name, long? value) => P(name, value, NpgsqlDbType.Bigint);

    public static NpgsqlParameter Number(string name, int? value) => P(name, value, NpgsqlDbType.Integer);

    public static NpgsqlParameter Uuid(string name, Guid value) => P(name, value, NpgsqlDbType.Uuid);

    public static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();


    public ValueTask DisposeAsync() => DataSource.DisposeAsync();
}
