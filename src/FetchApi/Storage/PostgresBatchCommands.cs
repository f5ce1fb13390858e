using System.Text.Json;
using FetchApi.Batches;
using FetchApi.Callbacks;
using FetchApi.Engine;
using FetchApi.Model;
using Npgsql;
using NpgsqlTypes;
using static FetchApi.Storage.PostgresDatabase;
using static FetchApi.Storage.PostgresRows;
using static FetchApi.Storage.StoreRows;

namespace FetchApi.Storage;

/// <summary>Creates, cancels and deletes batches in the shared PostgreSQL database, and tells the other nodes.</summary>
public sealed class PostgresBatchCommands(PostgresDatabase db) : IBatchCommands
{
    /// <summary>Batches at least this large refresh the slots table's statistics once stored.</summary>
    const int AnalyzeAtUrls = 1000;

    long _analyzedTicks = long.MinValue / 2;

    public async Task<CreateResult> CreateAsync(NewBatch batch, IdempotencyKey? idempotencyKey, Func<bool> admit, CancellationToken cancellationToken)
    {
        var created = await InsertAsync(batch, idempotencyKey, admit, cancellationToken);
        if (created.Outcome == CreateOutcome.Created && batch.Urls.Count >= AnalyzeAtUrls)
        {
            _ = AnalyzeAsync();
        }

        return created;
    }

    /// <summary>
    /// A large batch changes what the planner should think of the slots table (its pending slots, above all); autovacuum
    /// analyzes it a minute later at best, and with statistics from before the batch the claim's and the writer's
    /// statements were planned as if it had no pending slot: a 4-second batch took 60 (issue 23's bench, one run in three).
    /// In the background, at most every 10 s per node; a failure only leaves the statistics as they were.
    /// </summary>
    async Task AnalyzeAsync()
    {
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _analyzedTicks);
        if (now - last < 10_000 || Interlocked.CompareExchange(ref _analyzedTicks, now, last) != last)
        {
            return;
        }

        try
        {
            await db.RunAsync(c => ExecuteAsync(c, null, "ANALYZE slots;", CancellationToken.None), CancellationToken.None);
        }
        catch (Exception ex) when (ex is StoreUnavailableException or NpgsqlException)
        {
        }
    }

    Task<CreateResult> InsertAsync(NewBatch batch, IdempotencyKey? idempotencyKey, Func<bool> admit, CancellationToken cancellationToken) =>
        db.InTransactionAsync(async (c, tx) =>
        {
            var owner = batch.Owner ?? "";
            if (idempotencyKey is not null)
            {
                // Two nodes with the same key at once: the second waits here for the first to commit, then finds its batch.
                await ExecuteAsync(c, tx, "SELECT pg_advisory_xact_lock(hashtextextended(@owner || chr(1) || @key, 0));", cancellationToken,
                    Text("owner", owner), Text("key", idempotencyKey.Key));
                await using var lookup = Command(c, tx,
                    "SELECT i.request_hash, i.batch_id FROM idempotency i WHERE i.owner = @owner AND i.key = @key AND i.expires_at > @now " +
                    "AND EXISTS (SELECT 1 FROM batches WHERE id = i.batch_id);",
                    Text("owner", owner), Text("key", idempotencyKey.Key), Number("now", Ms(batch.CreatedAt)));
                await using var reader = await lookup.ExecuteReaderAsync(cancellationToken);
                if (await reader.ReadAsync(cancellationToken))
                {
                    return new CreateResult(
                        reader.GetString(0) == idempotencyKey.RequestHash ? CreateOutcome.Replayed : CreateOutcome.KeyReusedWithDifferentRequest,
                        reader.GetGuid(1));
                }
            }

            if (!admit())
            {
                return new CreateResult(CreateOutcome.NotAdmitted, batch.Id);
            }

            var seq = await ScalarAsync(c, tx,
                "INSERT INTO batches (id, owner, status, created_at, options, total, pending, fetched, failed, cancelled, " +
                "callback_url, callback_secret, callback_state) " +
                $"VALUES (@id, @owner, {Queued}, @created, @options, @n, @n, 0, 0, 0, @cbUrl, @cbSecret, @cbState) RETURNING seq;",
                cancellationToken, Uuid("id", batch.Id), Text("owner", batch.Owner), Number("created", Ms(batch.CreatedAt)),
                Text("options", JsonSerializer.Serialize(batch.Options, Json)), Number("n", batch.Urls.Count),
                Text("cbUrl", batch.Callback?.Url), Text("cbSecret", batch.Callback?.Secret),
                P("cbState", (short)(batch.Callback is null ? CallbackState.None : CallbackState.Pending), NpgsqlDbType.Smallint));

            // COPY: thousands of slots in one stream, not one statement each.
            await using (var copy = await c.BeginBinaryImportAsync("COPY slots (batch_seq, idx, url, host) FROM STDIN (FORMAT BINARY)", cancellationToken))
            {
                for (var i = 0; i < batch.Urls.Count; i++)
                {
                    await copy.StartRowAsync(cancellationToken);
                    await copy.WriteAsync(seq, NpgsqlDbType.Bigint, cancellationToken);
                    await copy.WriteAsync(i, NpgsqlDbType.Integer, cancellationToken);
                    await copy.WriteAsync(batch.Urls[i], NpgsqlDbType.Text, cancellationToken);
                    await copy.WriteAsync(Scheduler.HostKey(batch.Urls[i]), NpgsqlDbType.Text, cancellationToken);
                }

                await copy.CompleteAsync(cancellationToken);
            }

            if (idempotencyKey is not null)
            {
                await ExecuteAsync(c, tx,
                    "INSERT INTO idempotency (owner, key, request_hash, batch_id, expires_at) VALUES (@owner, @key, @hash, @id, @expires) " +
                    "ON CONFLICT (owner, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, batch_id = EXCLUDED.batch_id, " +
                    "expires_at = EXCLUDED.expires_at;",
                    cancellationToken, Text("owner", owner), Text("key", idempotencyKey.Key), Text("hash", idempotencyKey.RequestHash),
                    Uuid("id", batch.Id), Number("expires", Ms(batch.CreatedAt + idempotencyKey.Lifetime)));
            }

            await PostgresNotice.SendAsync(c, tx, NoticeKind.New, [batch.Id], cancellationToken);
            return new CreateResult(CreateOutcome.Created, batch.Id);
        }, cancellationToken);

    public Task<(CancelOutcome Outcome, BatchSummary? Summary)> CancelAsync(Guid id, string? owner, DateTimeOffset now,
        CancellationToken cancellationToken) =>
        db.InTransactionAsync<(CancelOutcome, BatchSummary?)>(async (c, tx) =>
        {
            // The counter first, as every writer of slots does: no deadlock with a result writer on another node.
            var doneSeq = await ScalarAsync(c, tx, "SELECT value FROM counters WHERE name = 'done_seq' FOR UPDATE;", cancellationToken);
            if (await ReadSummaryAsync(c, tx, id, owner, forUpdate: true, cancellationToken) is not var (seq, summary))
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

            // Cancelled slots become final now, in index order, after every slot that became final before.
            var cancelled = await ExecuteAsync(c, tx,
                $"UPDATE slots SET state = {Cancelled}, done_seq = @base + idx + 1 WHERE batch_seq = @seq AND state = {Pending};",
                cancellationToken, Number("seq", seq), Number("base", doneSeq));
            await ExecuteAsync(c, tx, "DELETE FROM leases WHERE batch_seq = @seq;", cancellationToken, Number("seq", seq));
            await ExecuteAsync(c, tx, "UPDATE counters SET value = value + @n WHERE name = 'done_seq';", cancellationToken,
                Number("n", (long)summary.Counts.Total + 1));
            await ExecuteAsync(c, tx,
                $"UPDATE batches SET status = {BatchCancelled}, completed_at = @now, pending = pending - @n, cancelled = cancelled + @n " +
                "WHERE seq = @seq;",
                cancellationToken, Number("seq", seq), Number("now", Ms(now)), Number("n", cancelled));
            await PostgresNotice.SendAsync(c, tx, NoticeKind.Cancel, [id], cancellationToken);
            var after = (await ReadSummaryAsync(c, tx, id, owner, forUpdate: false, cancellationToken))!.Value.Summary;
            return (CancelOutcome.Cancelled, after);
        }, cancellationToken);

    public Task<bool> DeleteAsync(Guid id, string? owner, CancellationToken cancellationToken) =>
        db.InTransactionAsync(async (c, tx) =>
        {
            await ExecuteAsync(c, tx, "SELECT value FROM counters WHERE name = 'done_seq' FOR UPDATE;", cancellationToken);
            // Its leases first (no foreign key: a claim's insert checks none): they would count against its hosts' limits.
            await ExecuteAsync(c, tx,
                "DELETE FROM leases WHERE batch_seq = (SELECT seq FROM batches WHERE id = @id AND owner IS NOT DISTINCT FROM @owner);",
                cancellationToken, Uuid("id", id), Text("owner", owner));
            var deleted = await ExecuteAsync(c, tx, "DELETE FROM batches WHERE id = @id AND owner IS NOT DISTINCT FROM @owner;", cancellationToken,
                Uuid("id", id), Text("owner", owner));
            if (deleted == 0)
            {
                return false;
            }

            await PostgresNotice.SendAsync(c, tx, NoticeKind.Cancel, [id], cancellationToken);
            return true;
        }, cancellationToken);
}
