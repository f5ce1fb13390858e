namespace FetchApi.Engine.Hosts;

/// <summary>
/// Gives back the per-host state of hosts gone idle: every <see cref="Period"/>, each per-host table (the request rates
/// and the robots.txt cache) forgets what is due. Each sweep looks only at the entries due, so memory and the work of
/// keeping it follow the hosts active recently. The scheduler's host entries need no sweep of their own: it removes
/// them as fetches complete and holds end.
/// </summary>
public sealed partial class HostSweeper(IEnumerable<IHostTable> tables, TimeProvider time, ILogger<HostSweeper> logger) : BackgroundService
{
    /// <summary>How often the tables are swept: an idle host's entry outlives its expiry by at most this.</summary>
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(1);

    readonly IHostTable[] _tables = [.. tables];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Period, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                var now = time.GetUtcNow();
                foreach (var table in _tables)
                {
                    table.Sweep(now);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Nothing here does I/O; whatever failed is tried again at the next tick rather than ending the sweeps.
                LogFailed(ex);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Sweeping idle hosts failed; trying again at the next tick")]
    partial void LogFailed(Exception exception);
}
