using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace FetchApi.Storage;

/// <summary>
/// What one database keeps with each of its physical connections (their <see cref="sqlite3"/> handles, which the pool
/// reuses): whether the connection's settings were applied, and the statements prepared on it. Microsoft.Data.Sqlite
/// has no statement cache and a pooled open would apply the settings again: at the writer's hundreds of small
/// transactions a second, preparing was a measurable part of each (issue 16). A pooled connection serves one operation
/// at a time, so a connection's entry needs no lock.
/// </summary>
public sealed class SqlitePerConnection
{
    sealed class Kept
    {
        public readonly Dictionary<string, sqlite3_stmt> Statements = new(StringComparer.Ordinal);
        public bool Configured;
    }

    readonly ConditionalWeakTable<sqlite3, Kept> _kept = new();

    Kept Of(SqliteConnection c) => _kept.GetValue(c.Handle!, static _ => new Kept());

    /// <summary>Whether this physical connection's settings were applied.</summary>
    public bool IsConfigured(SqliteConnection c) => Of(c).Configured;

    /// <summary>Records that this physical connection's settings are applied: later opens of it skip them.</summary>
    public void Configured(SqliteConnection c) => Of(c).Configured = true;

    /// <summary>
    /// <paramref name="sql"/> prepared on this connection, once: later calls return the same statement, reset, with its
    /// last bindings (bind every parameter before each run).
    /// </summary>
    public sqlite3_stmt Prepared(SqliteConnection c, string sql)
    {
        var kept = Of(c);
        if (!kept.Statements.TryGetValue(sql, out var statement))
        {
            SqliteRaw.Check(c.Handle!, raw.sqlite3_prepare_v2(c.Handle!, sql, out statement));
            kept.Statements[sql] = statement;
        }

        return statement;
    }

    /// <summary>
    /// Finalizes every kept statement and forgets every connection: called before the pool closes the connections, which
    /// SQLite would otherwise keep open until the statements are collected (and a clean stop would leave its -wal behind).
    /// </summary>
    public void Clear()
    {
        foreach (var (_, kept) in _kept)
        {
            foreach (var statement in kept.Statements.Values)
            {
                statement.Dispose();
            }

            kept.Statements.Clear();
        }

        _kept.Clear();
    }
}
