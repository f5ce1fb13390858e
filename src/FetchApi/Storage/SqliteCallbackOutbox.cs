using FetchApi.Callbacks;
using static FetchApi.Storage.SqliteDatabase;
using static FetchApi.Storage.StoreRows;

namespace FetchApi.Storage;

#pragma warning disable VSTHRD103 // see SqliteDatabase

/// <summary>Callbacks still to deliver, kept on the batch's row in the SQLite file.</summary>
public sealed class SqliteCallbackOutbox(SqliteDatabase db) : ICallbackOutbox
{
    public Task<IReadOnlyList<DueCallback>> GetDueAsync(DateTimeOffset now, TimeSpan claimFor, int limit, CancellationToken cancellationToken) =>
        db.WriteAsync<IReadOnlyList<DueCallback>>(async c =>
        {
            await using var tx = c.BeginTransaction(deferred: false);
            var list = new List<DueCallback>();
            await using (var command = Command(c, tx,
                $"SELECT b.callback_url, b.callback_secret, b.callback_attempts, {SummaryColumns} FROM batches b " +
                $"WHERE b.callback_state = {(int)CallbackState.Pending} AND b.status IN ({Completed}, {BatchCancelled}) " +
                "AND COALESCE(b.callback_next_at, b.completed_at) <= $now ORDER BY b.callback_next_at LIMIT $limit;",
                ("$now", Ms(now)), ("$limit", limit)))
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    list.Add(new DueCallback(new Callback(reader.GetString(0), reader.GetString(1)), reader.GetInt32(2), Summary(reader, at: 3)));
                }
            }

            foreach (var due in list)
            {
                await ExecuteAsync(c, tx, "UPDATE batches SET callback_next_at = $until WHERE id = $id;", cancellationToken,
                    ("$id", due.Summary.Id.ToString()), ("$until", Ms(now + claimFor)));
            }

            await tx.CommitAsync(cancellationToken);
            return list;
        }, cancellationToken);

    public Task RecordAsync(Guid batchId, CallbackState state, int attempts, DateTimeOffset? nextAttemptAt, CancellationToken cancellationToken) =>
        db.WriteAsync(c => ExecuteAsync(c, null,
            "UPDATE batches SET callback_state = $state, callback_attempts = $attempts, callback_next_at = $next WHERE id = $id;",
            cancellationToken, ("$id", batchId.ToString()), ("$state", (int)state), ("$attempts", attempts),
            ("$next", nextAttemptAt is { } next ? Ms(next) : null)), cancellationToken);
}
