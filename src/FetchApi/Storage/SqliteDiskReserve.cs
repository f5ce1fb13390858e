using FetchApi.Model;

namespace FetchApi.Storage;

/// <summary>
/// Room kept on the disk for the writes that free space (deleting and cancelling batches, the retention sweep): a
/// preallocated file beside the database, <c>Storage:DiskReserveBytes</c> long. When a write finds the disk full, the
/// reserve is deleted and the store turns full: it refuses every other write (new batches, results, readiness) until
/// the disk has room for the reserve and as much again, then takes the reserve back and goes on, without a restart.
/// </summary>
public sealed partial class SqliteDiskReserve(string? databaseFile, long reserveBytes, ILogger logger)
{
    /// <summary>How often a full store looks whether the disk has room again.</summary>
    static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(2);

    const long MinimumBytes = 1024 * 1024;

    string? _path = databaseFile is null || reserveBytes == 0 ? null : databaseFile + ".reserve";
    long _bytes = databaseFile is null ? 0 : reserveBytes;
    readonly string? _directory = databaseFile is null ? null : Path.GetDirectoryName(databaseFile);
    long _lastTry;

    /// <summary>Why the store is full; null when it is not.</summary>
    volatile string? _full;

    /// <summary>
    /// Takes the reserve at start: the configured size, or a quarter of the free space on a disk too small for it
    /// (a small volume still gets room for deletes); with less than 1 MiB to take, the service runs without, and says so.
    /// </summary>
    public void Start()
    {
        if (_path is null)
        {
            return;
        }

        var held = File.Exists(_path) ? new FileInfo(_path).Length : 0;
        var size = Math.Min(_bytes, (new DriveInfo(_directory!).AvailableFreeSpace + held) / 4);
        if (size < MinimumBytes || !TryTake(size))
        {
            LogNoReserve(logger, databaseFile, _bytes);
            File.Delete(_path);
            (_path, _bytes) = (null, 0);
            return;
        }

        if (size < _bytes)
        {
            LogSmallerReserve(logger, databaseFile, size, _bytes);
        }

        _bytes = size;
    }

    /// <summary>A write found the disk full: gives the reserve's room to the writes that free space.</summary>
    public void Release(string reason)
    {
        if (_full is not null)
        {
            return;
        }

        _full = reason;
        if (_path is not null)
        {
            File.Delete(_path);
        }

        LogFull(logger, reason, _bytes);
    }

    /// <summary>True when the store is not full, or has just taken its reserve back (tried every few seconds).</summary>
    public bool TryRecover()
    {
        if (_full is null)
        {
            return true;
        }

        var last = Interlocked.Read(ref _lastTry);
        if (last != 0 && System.Diagnostics.Stopwatch.GetElapsedTime(last) < RetryInterval)
        {
            return false;
        }

        Interlocked.Exchange(ref _lastTry, System.Diagnostics.Stopwatch.GetTimestamp());
        // Room for the reserve and as much again for work, so that the store does not flap between full and not.
        var room = Math.Max(_bytes, MinimumBytes);
        if (_directory is null || new DriveInfo(_directory).AvailableFreeSpace < _bytes + room || !TryTake(_bytes))
        {
            return false;
        }

        _full = null;
        LogRoom(logger, databaseFile);
        return true;
    }

    /// <summary>The exception for a write refused because the disk is full.</summary>
    public StoreUnavailableException Refusal() =>
        new(new IOException($"{_full}: new batches and results wait until there is room; deleting and cancelling batches still work"), StoreFault.DiskFull);

    bool TryTake(long size)
    {
        if (_path is null)
        {
            return true;
        }

        try
        {
            if (File.Exists(_path) && new FileInfo(_path).Length == size)
            {
                return true;
            }

            // Preallocated (fallocate), not a sparse file: the blocks are really taken, and given back by deleting it.
            // (.NET allocates past the end of the file; the length then makes the size visible to ls and df alike.)
            using var reserve = new FileStream(_path, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, PreallocationSize = size });
            reserve.SetLength(size);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Critical,
        Message = "DISK FULL: {Reason}. New batches are refused (503 store_unavailable, readiness 503) and results wait in memory; " +
                  "the {Bytes}-byte reserve was released so that DELETE /batches/{{id}} and cancel still work. Free space on the disk " +
                  "(see README, 'A full disk'); the service resumes by itself.")]
    static partial void LogFull(ILogger logger, string reason, long bytes);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "The disk holding {File} has no room for the {Bytes}-byte reserve (Storage:DiskReserveBytes): running without one, " +
                  "so deleting batches may fail once the disk is full")]
    static partial void LogNoReserve(ILogger logger, string? file, long bytes);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "The disk holding {File} is small: the reserve for deletes on a full disk is {Bytes} bytes (a quarter of the free space), not the {Configured} of Storage:DiskReserveBytes")]
    static partial void LogSmallerReserve(ILogger logger, string? file, long bytes, long configured);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The disk holding {File} has room again: the reserve is back and the store takes writes")]
    static partial void LogRoom(ILogger logger, string? file);
}
