using FetchApi.Callbacks;
using static FetchApi.Storage.SqliteDatabase;
using static FetchApi.Storage.StoreRows;

namespace FetchApi.Storage;

#pragma warning disable VSTHRD103 // see SqliteDatabase

/// <summary>Deletes ended batches past their retention from the SQLite file.</summary>
public sealed class SqliteRetention(SqliteDatabase db) : IRetentionStore
{
    public Task<int> DeleteEndedBeforeAsync(DateTimeOffset endedBefore, DateTimeOffset now, int limit, CancellationToken cancellationToken) =>
        db.WriteAsync(async c =>
        {
            await using var tx = c.BeginTransaction(deferred: false);
            await using var select = Command(c, tx,
                $"SELECT seq FROM batches WHERE status IN ({Completed}, {BatchCancelled}) AND completed_at < $t " +
                $"AND callback_state <> {(int)CallbackState.Pending} LIMIT $limit;",
                ("$t", Ms(endedBefore)), ("$limit", limit));
            var seqs = new List<long>();
            await using (var reader = await select.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    seqs.Add(reader.GetInt64(0));
                }
            }

            foreach (var seq in seqs)
            {
                await ExecuteAsync(c, tx, $"DELETE FROM slots WHERE {SqliteSchema.SlotsOf("seq = $seq")}; DELETE FROM batches WHERE seq = $seq;", cancellationToken,
                    ("$seq", seq));
            }

            await ExecuteAsync(c, tx, "DELETE FROM idempotency WHERE expires_at < $now;", cancellationToken, ("$now", Ms(now)));
            await tx.CommitAsync(cancellationToken);
            return seqs.Count;
        }, cancellationToken, frees: true);
}
