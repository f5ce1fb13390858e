using System.Text;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace FetchApi.Storage;

/// <summary>
/// Statements run many times per transaction (a result per row, a slot per URL) or once per transaction at a high rate
/// (the result writer's) go through SQLitePCL on the handle under Microsoft.Data.Sqlite's connection, in its
/// transaction, bound by position: Microsoft.Data.Sqlite would look each parameter up by name, convert the name to
/// UTF-8 on every execution, build a data reader per row, and prepare every statement again for every command (it has no
/// statement cache). Issue 16.
/// </summary>
public static class SqliteRaw
{
    /// <summary>
    /// Binds a string, or NULL. A short one is encoded on the stack (SQLite copies it): SQLitePCL would allocate its
    /// UTF-8 bytes for every bind (a URL per slot, four strings per result).
    /// </summary>
    public static int Text(sqlite3_stmt statement, int index, string? value)
    {
        if (value is null)
        {
            return raw.sqlite3_bind_null(statement, index);
        }

        // Not the empty string: an empty span has no address, and SQLite would bind NULL for it.
        if (value.Length is 0 or > 512)
        {
            return raw.sqlite3_bind_text(statement, index, value);
        }

        Span<byte> utf8 = stackalloc byte[value.Length * 3];
        return raw.sqlite3_bind_text(statement, index, utf8[..Encoding.UTF8.GetBytes(value, utf8)]);
    }

    /// <summary>Runs a bound statement that returns no rows; returns how many rows it changed, and resets it for the next.</summary>
    public static int Step(sqlite3 db, sqlite3_stmt statement)
    {
        var stepped = raw.sqlite3_step(statement);
        if (stepped is not (raw.SQLITE_DONE or raw.SQLITE_ROW))
        {
            ResetAndThrow(db, statement, stepped);
        }

        var changed = raw.sqlite3_changes(db);
        Check(db, raw.sqlite3_reset(statement));
        return changed;
    }

    /// <summary>Runs a bound statement that returns one row of two integers; returns them (null without a row), and resets the statement.</summary>
    public static (long First, long Second)? Pair(sqlite3 db, sqlite3_stmt statement)
    {
        var stepped = raw.sqlite3_step(statement);
        if (stepped is not (raw.SQLITE_ROW or raw.SQLITE_DONE))
        {
            ResetAndThrow(db, statement, stepped);
        }

        (long, long)? row = stepped == raw.SQLITE_ROW ? (raw.sqlite3_column_int64(statement, 0), raw.sqlite3_column_int64(statement, 1)) : null;
        Check(db, raw.sqlite3_reset(statement));
        return row;
    }

    /// <summary>A failed step: the statement is reset (a kept statement must not stay mid-run) and the failure thrown.</summary>
    static void ResetAndThrow(sqlite3 db, sqlite3_stmt statement, int stepped)
    {
        var message = raw.sqlite3_errmsg(db).utf8_to_string();
        var extended = raw.sqlite3_extended_errcode(db);
        raw.sqlite3_reset(statement);
        throw new SqliteException($"SQLite Error {stepped}: '{message}'.", stepped, extended);
    }

    /// <summary>A SQLite result code that is not OK (or a row, or done) becomes the exception Microsoft.Data.Sqlite would throw.</summary>
    public static void Check(sqlite3 db, int rc)
    {
        if (rc is not (raw.SQLITE_OK or raw.SQLITE_ROW or raw.SQLITE_DONE))
        {
            throw new SqliteException($"SQLite Error {rc}: '{raw.sqlite3_errmsg(db).utf8_to_string()}'.", rc, raw.sqlite3_extended_errcode(db));
        }
    }
}
