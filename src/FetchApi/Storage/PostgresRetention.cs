using FetchApi.Callbacks;
using static FetchApi.Storage.PostgresDatabase;
using static FetchApi.Storage.StoreRows;

namespace FetchApi.Storage;

/// <summary>Deletes ended batches past their retention; one node at a time (an advisory lock), the others skip the sweep.</summary>
public sealed class PostgresRetention(PostgresDatabase db) : IRetentionStore
{
    public Task<int> DeleteEndedBeforeAsync(DateTimeOffset endedBefore, DateTimeOffset now, int limit, CancellationToken cancellationToken) =>
        db.InTransactionAsync(async (c, tx) =>
        {
            if (await ScalarAsync(c, tx, "SELECT CASE WHEN pg_try_advisory_xact_lock(@key) THEN 1 ELSE 0 END;", cancellationToken,
                    Number("key", RetentionLock)) == 0)
            {
                return 0;
            }

            var deleted = await ExecuteAsync(c, tx,
                "DELETE FROM batches WHERE seq IN (SELECT seq FROM batches " +
                $"  WHERE status IN ({Completed}, {BatchCancelled}) AND completed_at < @t AND callback_state <> {(int)CallbackState.Pending} LIMIT @limit);",
                cancellationToken, Number("t", Ms(endedBefore)), Number("limit", limit));
            await ExecuteAsync(c, tx, "DELETE FROM idempotency WHERE expires_at < @now;", cancellationToken, Number("now", Ms(now)));
            return deleted;
        }, cancellationToken);
}
