using System.Globalization;
using FetchApi.Model;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace FetchApi.Storage;

// Microsoft.Data.Sqlite does its I/O synchronously even behind *Async methods (SQLite is an in-process library);
// BeginTransaction(deferred) and Prepare have no async form at all. Awaiting the others keeps call sites uniform.
#pragma warning disable VSTHRD103

/// <summary>
/// The embedded default store's file: one SQLite database in WAL mode (readers never wait for the writer), opened per
/// operation from a pool, with the one write guard every role's writes go through. Timestamps are Unix milliseconds,
/// enums their numbers, options JSON. Owners are compared with <c>IS</c>, so the open service (owner null) and each
/// API key see only their own batches.
/// </summary>
public sealed partial class SqliteDatabase : IDisposable
{
    /// <summary>How often a read or write also checks that the file at the path is still the one opened.</summary>
    static readonly TimeSpan IdentityCheckInterval = TimeSpan.FromSeconds(2);

    readonly string _connectionString;
    readonly long _busyTimeoutMs;
    readonly SemaphoreSlim _writes = new(1, 1);
    readonly ILogger<SqliteDatabase> _logger;
    int _identity;
    long _lastIdentityCheck;
    string? _lost;

    public SqliteDatabase(IOptions<StorageOptions> options, ILogger<SqliteDatabase> logger)
    {
        _logger = logger;
        _busyTimeoutMs = (long)options.Value.BusyTimeout.TotalMilliseconds;
        var builder = new SqliteConnectionStringBuilder(options.Value.ConnectionString)
        {
            Pooling = true,
            // Microsoft.Data.Sqlite retries a busy or locked statement until this many seconds pass (30 by default):
            // Storage:BusyTimeout bounds the wait, not that (0 would mean forever).
            DefaultTimeout = Math.Max(1, (int)Math.Ceiling(options.Value.BusyTimeout.TotalSeconds)),
        };
        if (builder.DataSource is { Length: > 0 } file && file != ":memory:" && Path.GetDirectoryName(Path.GetFullPath(file)) is { } dir)
        {
            Directory.CreateDirectory(dir);
            File = Path.GetFullPath(file);
        }

        _connectionString = builder.ToString();
        Reserve = new SqliteDiskReserve(File, options.Value.DiskReserveBytes, logger);
    }

    /// <summary>The room kept for writes that free space when the disk fills.</summary>
    public SqliteDiskReserve Reserve { get; }

    /// <summary>The database file's full path; null for an in-memory database.</summary>
    public string? File { get; }

    /// <summary>
    /// The identity (<c>PRAGMA application_id</c>) in the header of the file at <paramref name="path"/>, read from the
    /// file's own bytes: null when there is no such file, 0 for one that is not an SQLite database or has none. Not
    /// through SQLite: a connection to a file put in place of ours would read the old file's WAL left beside it.
    /// </summary>
    public static int? IdentityOf(string path)
    {
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
            Span<byte> header = stackalloc byte[100];
            return file.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) == header.Length && header[..16].SequenceEqual("SQLite format 3\0"u8)
                ? System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(header[68..])
                : 0;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>From now on, reads and writes check that the file at the path still has this identity.</summary>
    public void Adopt(int identity) => _identity = identity;

    /// <summary>Whether the file is in WAL mode (then its <c>-wal</c> file must stay beside it while the service runs).</summary>
    public bool UsesWal { get; set; }

    /// <summary>
    /// Throws <see cref="StoreUnavailableException"/> once the file at the path is no longer the one the service opened
    /// (deleted, or replaced by another): writing on would go into an unlinked file, or start a new store silently.
    /// Checked at most every <see cref="IdentityCheckInterval"/>, or now when <paramref name="now"/> is set (readiness).
    /// </summary>
    public void EnsureSameFile(bool now = false)
    {
        if (_lost is { } lost)
        {
            throw new StoreUnavailableException(new IOException(lost), StoreFault.Lost);
        }

        var last = Interlocked.Read(ref _lastIdentityCheck);
        if (File is null || _identity == 0 || (!now && System.Diagnostics.Stopwatch.GetElapsedTime(last) < IdentityCheckInterval))
        {
            return;
        }

        Interlocked.Exchange(ref _lastIdentityCheck, System.Diagnostics.Stopwatch.GetTimestamp());
        int? found;
        try
        {
            found = IdentityOf(File);
        }
        catch (IOException)
        {
            found = null;
        }

        if (found != _identity)
        {
            throw Lose(found is null
                ? $"the database file {File} was deleted while the service ran"
                : $"the database file {File} was replaced while the service ran (identity {found}, opened {_identity})");
        }
    }

    /// <summary>
    /// After every commit: the file and its WAL are still at their paths. A WAL deleted under the service would take
    /// every commit since into an unlinked file, lost at the next stop; this commit's caller gets 503, not 202.
    /// </summary>
    void EnsureFilesStillThere()
    {
        if (File is null || _identity == 0)
        {
            return;
        }

        if (!System.IO.File.Exists(File))
        {
            throw Lose($"the database file {File} was deleted while the service ran");
        }

        if (UsesWal && !System.IO.File.Exists(File + "-wal"))
        {
            throw Lose($"the write-ahead log {File}-wal was deleted while the service ran: commits since then went into an unlinked file");
        }
    }

    StoreUnavailableException Lose(string reason)
    {
        if (Interlocked.CompareExchange(ref _lost, reason, null) is null)
        {
            LogLost(_logger, reason);
        }

        return new StoreUnavailableException(new IOException(_lost), StoreFault.Lost);
    }

    [LoggerMessage(Level = LogLevel.Critical,
        Message = "STORE LOST: {Reason}. The service refuses every read and write (503 store_unavailable, readiness 503) " +
                  "until it is restarted with the right file. Restore the file from a backup; nothing more is written meanwhile.")]
    static partial void LogLost(ILogger logger, string reason);

    public async Task<SqliteConnection> OpenAsync(CancellationToken ct)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(ct);
        // FULL: a commit is on disk before 202 goes out, even across a power cut. busy_timeout: wait for the writer lock.
        // Settings of the connection: once per physical connection, not at every open from the pool (issue 16).
        if (!PerConnection.IsConfigured(connection))
        {
            await ExecuteAsync(connection, null, $"PRAGMA synchronous=FULL; PRAGMA busy_timeout={_busyTimeoutMs}; PRAGMA foreign_keys=ON;", ct);
            PerConnection.Configured(connection);
        }

        return connection;
    }

    /// <summary>The settings applied and the statements prepared on each connection of this file.</summary>
    public SqlitePerConnection PerConnection { get; } = new();

    /// <summary>Closes the pooled connections of this file.</summary>
    public void Close()
    {
        PerConnection.Clear();
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
    }

    const int ReadOnlyCode = 8;
    const int FullCode = 13;

    // SQLITE_BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN: the file cannot take a write now, through no fault of the request.
    public static bool IsUnavailable(SqliteException e) => (e.SqliteErrorCode & 0xFF) is 5 or 6 or ReadOnlyCode or 10 or FullCode or 14;

    /// <summary>An unavailable file as the exception the API answers 503 for, with what a client may know of the cause.</summary>
    public static StoreUnavailableException Unavailable(SqliteException e) => new(e, (e.SqliteErrorCode & 0xFF) switch
    {
        ReadOnlyCode => StoreFault.ReadOnly,
        FullCode => StoreFault.DiskFull,
        _ => StoreFault.Unavailable,
    });

    /// <summary>
    /// SQLite opens a file it may not write read-only, silently, and a pooled connection stays so after the file became
    /// writable: the pool is emptied, so that the next write opens the file afresh and succeeds once the cause is gone.
    /// </summary>
    StoreUnavailableException ReadOnly()
    {
        Close();
        return new StoreUnavailableException(new IOException(
            $"the database file {File} is read-only for this process (check the owner and mode of the file and its folder)"), StoreFault.ReadOnly);
    }

    /// <summary>
    /// Runs a write in its turn, reporting an unavailable file as <see cref="StoreUnavailableException"/>. Writes take
    /// turns on an async lock first: SQLite has one writer at a time anyway, and waiting here costs no thread, while
    /// waiting in SQLite's busy handler would block one. A write that <paramref name="frees"/> space (deleting,
    /// cancelling) still runs on a full disk, in the room of the released reserve; any other is refused there.
    /// </summary>
    public async Task<T> WriteAsync<T>(Func<SqliteConnection, Task<T>> write, CancellationToken ct, bool frees = false)
    {
        await _writes.WaitAsync(ct);
        try
        {
            EnsureSameFile();
            if (!Reserve.TryRecover() && !frees)
            {
                throw Reserve.Refusal();
            }

            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    return await WriteOnceAsync(write, ct);
                }
                catch (SqliteException e) when ((e.SqliteErrorCode & 0xFF) == FullCode)
                {
                    Reserve.Release($"the disk holding {File} is full ({e.Message})");
                    if (!frees || attempt > 1)
                    {
                        throw Reserve.Refusal();
                    }
                }
            }
        }
        catch (SqliteException e) when ((e.SqliteErrorCode & 0xFF) == ReadOnlyCode)
        {
            throw ReadOnly();
        }
        catch (SqliteException e) when (IsUnavailable(e))
        {
            throw Unavailable(e);
        }
        finally
        {
            _writes.Release();
        }
    }

    async Task<T> WriteOnceAsync<T>(Func<SqliteConnection, Task<T>> write, CancellationToken ct)
    {
        await using var c = await OpenAsync(ct);
        if (SQLitePCL.raw.sqlite3_db_readonly(c.Handle, "main") == 1)
        {
            throw ReadOnly();
        }

        var result = await write(c);
        EnsureFilesStillThere();
        return result;
    }

    /// <summary>Runs a read, reporting an unavailable file as <see cref="StoreUnavailableException"/>.</summary>
    public async Task<T> ReadAsync<T>(Func<SqliteConnection, Task<T>> read, CancellationToken ct)
    {
        try
        {
            EnsureSameFile();
            await using var c = await OpenAsync(ct);
            return await read(c);
        }
        catch (SqliteException e) when (IsUnavailable(e))
        {
            throw Unavailable(e);
        }
    }

    public static async Task<int> ExecuteAsync(SqliteConnection c, SqliteTransaction? tx, string sql, CancellationToken ct,
        params (string Name, object? Value)[] parameters)
    {
        await using var command = Command(c, tx, sql, parameters);
        return await command.ExecuteNonQueryAsync(ct);
    }

    public static async Task<long> ScalarAsync(SqliteConnection c, SqliteTransaction? tx, string sql, CancellationToken ct,
        params (string Name, object? Value)[] parameters)
    {
        await using var command = Command(c, tx, sql, parameters);
        return Convert.ToInt64(await command.ExecuteScalarAsync(ct), CultureInfo.InvariantCulture);
    }

    public static SqliteCommand Command(SqliteConnection c, SqliteTransaction? tx, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = c.CreateCommand();
        command.CommandText = sql;
        command.Transaction = tx;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command;
    }

    public static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();


    public void Dispose() => _writes.Dispose();
}
