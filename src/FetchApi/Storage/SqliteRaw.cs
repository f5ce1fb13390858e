using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace FetchApi.Storage;

/// <summary>
/// Statements run many times per transaction (a result per row, a slot per URL) go through SQLitePCL on the handle under
/// Microsoft.Data.Sqlite's connection, in its transaction, bound by position: Microsoft.Data.Sqlite would look each
/// parameter up by name, convert the name to UTF-8 on every execution, and build a data reader per row (issue 16).
/// </summary>
public static class SqliteRaw
{
    /// <summary>Binds a string, or NULL.</summary>
    public static int Text(sqlite3_stmt statement, int index, string? value) =>
        value is null ? raw.sqlite3_bind_null(statement, index) : raw.sqlite3_bind_text(statement, index, value);

    /// <summary>Runs a bound statement that returns no rows; returns how many rows it changed, and resets it for the next.</summary>
    public static int Step(sqlite3 db, sqlite3_stmt statement)
    {
        var stepped = raw.sqlite3_step(statement);
        if (stepped != raw.SQLITE_DONE)
        {
            Check(db, stepped);
        }

        var changed = raw.sqlite3_changes(db);
        Check(db, raw.sqlite3_reset(statement));
        return changed;
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
