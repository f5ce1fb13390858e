using FetchApi.Callbacks;
using static FetchApi.Storage.PostgresDatabase;
using static FetchApi.Storage.StoreRows;

namespace FetchApi.Storage;

/// <summary>
/// Callbacks still to deliver, on the batch's row. A node takes due callbacks with <c>FOR UPDATE SKIP LOCKED</c> and
/// moves their due time past its round, so no two nodes deliver the same callback at once.
/// </summary>
public sealed class PostgresCallbackOutbox(PostgresDatabase db) : ICallbackOutbox
{
    public Task<IReadOnlyList<DueCallback>> GetDueAsync(DateTimeOffset now, TimeSpan claimFor, int limit, CancellationToken cancellationToken) =>
        db.RunAsync<IReadOnlyList<DueCallback>>(async c =>
        {
            await using var command = Command(c, null,
                "WITH due AS (SELECT seq FROM batches " +
                $"  WHERE callback_state = {(int)CallbackState.Pending} AND status IN ({Completed}, {BatchCancelled}) " +
                "  AND COALESCE(callback_next_at, completed_at) <= @now ORDER BY callback_next_at NULLS FIRST LIMIT @limit FOR UPDATE SKIP LOCKED) " +
                "UPDATE batches b SET callback_next_at = @until FROM due WHERE b.seq = due.seq " +
                $"RETURNING b.callback_url, b.callback_secret, b.callback_attempts, {SummaryColumns};",
                Number("now", Ms(now)), Number("until", Ms(now + claimFor)), Number("limit", limit));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var list = new List<DueCallback>();
            while (await reader.ReadAsync(cancellationToken))
            {
                list.Add(new DueCallback(new Callback(reader.GetString(0), reader.GetString(1)), reader.GetInt32(2), Summary(reader, at: 3)));
            }

            return list;
        }, cancellationToken);

    public Task RecordAsync(Guid batchId, CallbackState state, int attempts, DateTimeOffset? nextAttemptAt, CancellationToken cancellationToken) =>
        db.RunAsync(c => ExecuteAsync(c, null,
            "UPDATE batches SET callback_state = @state, callback_attempts = @attempts, callback_next_at = @next WHERE id = @id;",
            cancellationToken, Uuid("id", batchId), P("state", (short)state, NpgsqlTypes.NpgsqlDbType.Smallint), Number("attempts", attempts),
            Number("next", nextAttemptAt is { } next ? Ms(next) : (long?)null)), cancellationToken);
}
