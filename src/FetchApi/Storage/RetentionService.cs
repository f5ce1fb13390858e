using Microsoft.Extensions.Options;

namespace FetchApi.Storage;

/// <summary>
/// Deletes batches that ended more than <c>Storage:Retention</c> ago, a few at a time, so that each transaction is
/// short and the API never waits long for the write lock.
/// </summary>
public sealed partial class RetentionService(IRetentionStore store, IOptions<StorageOptions> options, TimeProvider time,
    ILogger<RetentionService> logger) : BackgroundService
{
    const int BatchesPerTransaction = 20;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.RetentionSweepInterval, time);
        do
        {
            try
            {
                var now = time.GetUtcNow();
                var cutoff = now - options.Value.Retention;
                int deleted;
                var total = 0;
                do
                {
                    deleted = await store.DeleteEndedBeforeAsync(cutoff, now, BatchesPerTransaction, stoppingToken);
                    total += deleted;
                }
                while (deleted == BatchesPerTransaction && !stoppingToken.IsCancellationRequested);

                if (total > 0)
                {
                    LogDeleted(total, cutoff);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // A locked or failing store is tried again at the next tick.
                LogFailed(ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Retention: deleted {Count} batches that ended before {Cutoff}")]
    partial void LogDeleted(int count, DateTimeOffset cutoff);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Retention sweep failed; trying again at the next tick")]
    partial void LogFailed(Exception exception);
}
