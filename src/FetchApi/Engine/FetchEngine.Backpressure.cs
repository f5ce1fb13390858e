namespace FetchApi.Engine;

// While the store refuses results (locked, full, read-only), fetching on would only pile them up in memory.
public sealed partial class FetchEngine
{
    bool _paused;

    /// <summary>True while no fetch starts because <c>Engine:MaxUnwrittenResults</c> results wait to be written.</summary>
    public bool Paused => Volatile.Read(ref _paused);

    /// <summary>Whether the writer is behind; says so in the log when that begins and ends.</summary>
    bool WriterBehind()
    {
        var behind = writer.Behind;
        if (behind != _paused)
        {
            Volatile.Write(ref _paused, behind);
            if (behind)
            {
                LogPaused(writer.Unwritten);
            }
            else
            {
                LogResumed();
            }
        }

        return behind;
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "{Count} results wait to be written (the store is not taking them): no new fetch starts until the writer catches up (Engine:MaxUnwrittenResults)")]
    partial void LogPaused(int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "The writer caught up: fetching goes on")]
    partial void LogResumed();
}
