using System.Text.Json;
using FetchApi.Batches;
using FetchApi.Callbacks;
using FetchApi.Model;
using SQLitePCL;
using static FetchApi.Storage.SqliteDatabase;
using static FetchApi.Storage.StoreRows;

namespace FetchApi.Storage;

#pragma warning disable VSTHRD103 // see SqliteDatabase

/// <summary>Creates, cancels and deletes batches in the SQLite file.</summary>
public sealed class SqliteBatchCommands(SqliteDatabase db) : IBatchCommands
{
    public Task<CreateResult> CreateAsync(NewBatch batch, IdempotencyKey? idempotencyKey, Func<bool> admit, CancellationToken cancellationToken) =>
        db.WriteAsync(async c =>
        {
            // IMMEDIATE: the key lookup and the insert are one atomic step, even for two requests with the same key.
            await using var tx = c.BeginTransaction(deferred: false);
            var owner = batch.Owner ?? "";
            if (idempotencyKey is not null)
            {
                await using var lookup = Command(c, tx,
                    "SELECT request_hash, batch_id FROM idempotency WHERE owner = $owner AND key = $key AND expires_at > $now " +
                    "AND EXISTS (SELECT 1 FROM batches WHERE id = batch_id);",
                    ("$owner", owner), ("$key", idempotencyKey.Key), ("$now", Ms(batch.CreatedAt)));
                await using var reader = await lookup.ExecuteReaderAsync(cancellationToken);
                if (await reader.ReadAsync(cancellationToken))
                {
                    var earlier = Guid.Parse(reader.GetString(1));
                    return new CreateResult(
                        reader.GetString(0) == idempotencyKey.RequestHash ? CreateOutcome.Replayed : CreateOutcome.KeyReusedWithDifferentRequest,
                        earlier);
                }
            }

            if (!admit())
            {
                return new CreateResult(CreateOutcome.NotAdmitted, batch.Id);
            }

            // The batch's slots take the next consecutive keys: appended at the end of the table (SqliteSchema step 5).
            var first = await ScalarAsync(c, tx, "SELECT COALESCE(MAX(slot_id), 0) + 1 FROM slots;", cancellationToken);
            await using var insert = Command(c, tx,
                "INSERT INTO batches (id, owner, status, created_at, options, total, pending, fetched, failed, cancelled, " +
                "callback_url, callback_secret, callback_state, first_slot) " +
                $"VALUES ($id, $owner, {Queued}, $created, $options, $n, $n, 0, 0, 0, $cbUrl, $cbSecret, $cbState, $first) RETURNING seq;",
                ("$first", first), ("$id", batch.Id.ToString()), ("$owner", batch.Owner), ("$created", Ms(batch.CreatedAt)),
                ("$options", JsonSerializer.Serialize(batch.Options, Json)), ("$n", batch.Urls.Count),
                ("$cbUrl", batch.Callback?.Url), ("$cbSecret", batch.Callback?.Secret),
                ("$cbState", (int)(batch.Callback is null ? CallbackState.None : CallbackState.Pending)));
            var seq = (long)(await insert.ExecuteScalarAsync(cancellationToken))!;

            // One row per URL, bound by position (SqliteRaw): half of a large POST's CPU was binding by name.
            var db = c.Handle!;
            SqliteRaw.Check(db, raw.sqlite3_prepare_v2(db, "INSERT INTO slots (slot_id, batch_seq, idx, url) VALUES (?1, ?2, ?3, ?4);", out var slot));
            using (slot)
            {
                SqliteRaw.Check(db, raw.sqlite3_bind_int64(slot, 2, seq));
                for (var i = 0; i < batch.Urls.Count; i++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    SqliteRaw.Check(db, raw.sqlite3_bind_int64(slot, 1, first + i));
                    SqliteRaw.Check(db, raw.sqlite3_bind_int(slot, 3, i));
                    SqliteRaw.Check(db, SqliteRaw.Text(slot, 4, batch.Urls[i]));
                    SqliteRaw.Step(db, slot);
                }
            }

            if (idempotencyKey is not null)
            {
                await ExecuteAsync(c, tx,
                    "INSERT OR REPLACE INTO idempotency (owner, key, request_hash, batch_id, expires_at) VALUES ($owner, $key, $hash, $id, $expires);",
                    cancellationToken, ("$owner", owner), ("$key", idempotencyKey.Key), ("$hash", idempotencyKey.RequestHash),
                    ("$id", batch.Id.ToString()), ("$expires", Ms(batch.CreatedAt + idempotencyKey.Lifetime)));
            }

            await tx.CommitAsync(cancellationToken);
            return new CreateResult(CreateOutcome.Created, batch.Id);
        }, cancellationToken);

    public Task<(CancelOutcome Outcome, BatchSummary? Summary)> CancelAsync(Guid id, string? owner, DateTimeOffset now,
        CancellationToken cancellationToken) =>
        db.WriteAsync<(CancelOutcome, BatchSummary?)>(async c =>
        {
            await using var tx = c.BeginTransaction(deferred: false);
            if (await ReadSummaryAsync(c, tx, id, owner, cancellationToken) is not var (seq, summary))
            {
                return (CancelOutcome.NotFound, null);
            }

            switch (summary.Status)
            {
                case BatchStatus.Completed:
                    return (CancelOutcome.AlreadyCompleted, summary);
                case BatchStatus.Cancelled:
                    return (CancelOutcome.AlreadyCancelled, summary);
            }

            // Cancelled slots become final now, in index order, after every slot of the batch that became final before.
            var doneSeq = await ScalarAsync(c, tx, $"SELECT {SqliteSchema.LastDone("$seq")};", cancellationToken, ("$seq", seq));
            var cancelled = await ExecuteAsync(c, tx,
                $"UPDATE slots SET state = {Cancelled}, done_seq = $base + idx + 1 WHERE {SqliteSchema.SlotsOf("seq = $seq")} AND state = {Pending};",
                cancellationToken, ("$seq", seq), ("$base", doneSeq));
            await ExecuteAsync(c, tx,
                $"UPDATE batches SET status = {BatchCancelled}, completed_at = $now, pending = pending - $n, cancelled = cancelled + $n " +
                "WHERE seq = $seq;",
                cancellationToken, ("$seq", seq), ("$now", Ms(now)), ("$n", cancelled));
            var after = (await ReadSummaryAsync(c, tx, id, owner, cancellationToken))!.Value.Summary;
            await tx.CommitAsync(cancellationToken);
            return (CancelOutcome.Cancelled, after);
        }, cancellationToken, frees: true);

    public Task<bool> DeleteAsync(Guid id, string? owner, CancellationToken cancellationToken) =>
        db.WriteAsync(async c =>
        {
            await using var tx = c.BeginTransaction(deferred: false);
            var seq = await ScalarAsync(c, tx, "SELECT COALESCE((SELECT seq FROM batches WHERE id = $id AND owner IS $owner), 0);",
                cancellationToken, ("$id", id.ToString()), ("$owner", owner));
            if (seq == 0)
            {
                return false;
            }

            await ExecuteAsync(c, tx, $"DELETE FROM slots WHERE {SqliteSchema.SlotsOf("seq = $seq")}; DELETE FROM batches WHERE seq = $seq;", cancellationToken,
                ("$seq", seq));
            await tx.CommitAsync(cancellationToken);
            return true;
        }, cancellationToken, frees: true);
}
