using FetchApi.Callbacks;
using static FetchApi.Storage.SqliteDatabase;
using static FetchApi.Storage.SqliteRows;

namespace FetchApi.Storage;

#pragma warning disable VSTHRD103 // see SqliteDatabase

/// <summary>Callbacks still to deliver, kept on the batch's row in the SQLite file.</summary>
public sealed class SqliteCallbackOutbox(SqliteDatabase db) : ICallbackOutbox
{
    public Task<IReadOnlyList<DueCallback>> GetDueAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken) =>
        db.ReadAsync<IReadOnlyList<DueCallback>>(async c =>
        {
            await using var command = Command(c, null,
                $"SELECT b.callback_url, b.callback_secret, b.callback_attempts, {SummaryColumns} FROM batches b " +
                $"WHERE b.callback_state = {(int)CallbackState.Pending} AND b.status IN ({Completed}, {BatchCancelled}) " +
                "AND COALESCE(b.callback_next_at, b.completed_at) <= $now ORDER BY b.callback_next_at LIMIT $limit;",
                ("$now", Ms(now)), ("$limit", limit));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var list = new List<DueCallback>();
            while (await reader.ReadAsync(cancellationToken))
            {
                list.Add(new DueCallback(new Callback(reader.GetString(0), reader.GetString(1)), reader.GetInt32(2), Summary(reader, at: 3)));
            }

            return list;
        }, cancellationToken);

    public Task RecordAsync(Guid batchId, CallbackState state, int attempts, DateTimeOffset? nextAttemptAt, CancellationToken cancellationToken) =>
        db.WriteAsync(c => ExecuteAsync(c, null,
            "UPDATE batches SET callback_state = $state, callback_attempts = $attempts, callback_next_at = $next WHERE id = $id;",
            cancellationToken, ("$id", batchId.ToString()), ("$state", (int)state), ("$attempts", attempts),
            ("$next", nextAttemptAt is { } next ? Ms(next) : null)), cancellationToken);
}
