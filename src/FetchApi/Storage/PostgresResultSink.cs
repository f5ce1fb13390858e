using FetchApi.Engine;
using FetchApi.Model;
using Npgsql;
using NpgsqlTypes;
using static FetchApi.Storage.PostgresDatabase;
using static FetchApi.Storage.StoreRows;

namespace FetchApi.Storage;

/// <summary>
/// Writes groups of results into the shared database: a result counts only while this incarnation still holds the slot's
/// lease and the slot is pending, so each slot is final once even when a node that lost its lease writes late.
/// One transaction and three round trips per group.
/// </summary>
public sealed class PostgresResultSink(PostgresDatabase db) : IResultSink
{
    public Task<WriteResult> WriteAsync(IReadOnlyList<SlotUpdate> results, IReadOnlyList<BatchStarted> started, DateTimeOffset now,
        CancellationToken cancellationToken) =>
        db.InTransactionAsync(async (c, tx) =>
        {
            var deltas = results.Count == 0 ? [] : await RecordAsync(c, tx, results, cancellationToken);

            var completed = new List<Guid>();
            var touched = deltas.Keys.Union(started.Select(s => s.BatchId)).ToList();
            await using (var batch = new NpgsqlBatch(c, tx))
            {
                batch.BatchCommands.Add(new NpgsqlBatchCommand(
                    $"UPDATE batches b SET status = {Running}, started_at = s.at FROM unnest(@ids, @ats) AS s(id, at) " +
                    $"WHERE b.id = s.id AND b.status = {Queued};")
                {
                    Parameters =
                    {
                        P("ids", started.Select(s => s.BatchId).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Uuid),
                        P("ats", started.Select(s => Ms(s.At)).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Bigint),
                    },
                });
                batch.BatchCommands.Add(new NpgsqlBatchCommand(
                    "UPDATE batches b SET pending = b.pending - d.f - d.x - d.c, fetched = b.fetched + d.f, failed = b.failed + d.x, " +
                    "cancelled = b.cancelled + d.c FROM unnest(@ids, @f, @x, @c) AS d(id, f, x, c) WHERE b.id = d.id;")
                {
                    Parameters =
                    {
                        P("ids", deltas.Keys.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Uuid),
                        P("f", deltas.Values.Select(d => d[Fetched]).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Integer),
                        P("x", deltas.Values.Select(d => d[Failed]).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Integer),
                        P("c", deltas.Values.Select(d => d[Cancelled]).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Integer),
                    },
                });
                batch.BatchCommands.Add(new NpgsqlBatchCommand(
                    $"UPDATE batches SET status = {Completed}, completed_at = @now, started_at = COALESCE(started_at, @now) " +
                    $"WHERE id = ANY(@ids) AND status IN ({Queued}, {Running}) AND pending = 0 RETURNING id;")
                {
                    Parameters = { Number("now", Ms(now)), P("ids", touched.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Uuid) },
                });
                batch.BatchCommands.Add(PostgresNotice.Command(NoticeKind.Changed, touched));
                // Statements that return no rows have no result set: the first one is the completed batches.
                await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    completed.Add(reader.GetGuid(0));
                }
            }

            if (completed.Count > 0)
            {
                // Rare (once per batch): wakes the callback dispatchers of every node.
                await PostgresNotice.SendAsync(c, tx, NoticeKind.Ended, completed, cancellationToken);
            }

            return new WriteResult(touched, completed);
        }, cancellationToken);

    /// <summary>Records each result whose slot is still pending and leased to this node; returns, per batch, how many slots moved to each state.</summary>
    async Task<Dictionary<Guid, int[]>> RecordAsync(NpgsqlConnection c, NpgsqlTransaction tx, IReadOnlyList<SlotUpdate> results,
        CancellationToken cancellationToken)
    {
        var deltas = new Dictionary<Guid, int[]>();
        T[] Column<T>(Func<SlotResult, T> value) => [.. results.Select(r => value(r.Result))];
        // The counter row first (every writer of slots takes it first), reserving one event sequence number per result.
        await using var command = Command(c, tx,
            "WITH seq AS (UPDATE counters SET value = value + @n WHERE name = 'done_seq' RETURNING value - @n AS base), " +
            "u AS (SELECT * FROM unnest(@batch, @idx, @state, @attempts, @duration, @status, @reason, @final, @redirects, @ctype, @clen, @sha, " +
            "  @body, @ecode, @emsg, @extracted) WITH ORDINALITY AS u(batch, idx, state, attempts, duration, status, reason, final, redirects, ctype, " +
            "  clen, sha, body, ecode, emsg, extracted, ord)), " +
            // The lease goes (it is this incarnation's, or the result is someone else's to write) and the slot row is
            // written once. The delete hands the results on (RETURNING x.*): joining its output back to u made the plan
            // a nested loop over two CTE scans, 14 ms a group of 450 where this takes 4.
            "mine AS (DELETE FROM leases l USING (SELECT b.seq, u.* FROM u JOIN batches b ON b.id = u.batch) x " +
            "  WHERE l.batch_seq = x.seq AND l.idx = x.idx AND l.owner = @me RETURNING x.*) " +
            "UPDATE slots s SET state = m.state, attempts = m.attempts, duration_ms = m.duration, status_code = m.status, reason = m.reason, " +
            "final_url = m.final, redirects = m.redirects, content_type = m.ctype, content_length = m.clen, sha256 = m.sha, body = m.body, " +
            "error_code = m.ecode, error_message = m.emsg, extracted = m.extracted, done_seq = (SELECT base FROM seq) + m.ord " +
            // "Still pending" as done_seq IS NULL, not state = 0: the latter matched the partial index of pending slots, which
            // the planner, with statistics from before the batch, took for empty and scanned whole for every result.
            "FROM mine m WHERE s.batch_seq = m.seq AND s.idx = m.idx AND s.done_seq IS NULL RETURNING m.batch, m.state;",
            Number("n", (long)results.Count), Text("me", db.Incarnation),
            P("batch", results.Select(r => r.BatchId).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Uuid),
            P("idx", Column(r => r.Index), NpgsqlDbType.Array | NpgsqlDbType.Integer),
            P("state", Column(r => (short)r.State), NpgsqlDbType.Array | NpgsqlDbType.Smallint),
            P("attempts", Column(r => r.Attempts), NpgsqlDbType.Array | NpgsqlDbType.Integer),
            P("duration", Column(r => r.DurationMs), NpgsqlDbType.Array | NpgsqlDbType.Bigint),
            P("status", Column(r => r.Response?.StatusCode), NpgsqlDbType.Array | NpgsqlDbType.Integer),
            P("reason", Column(r => r.Response?.ReasonPhrase), NpgsqlDbType.Array | NpgsqlDbType.Text),
            P("final", Column(r => r.Response?.FinalUrl), NpgsqlDbType.Array | NpgsqlDbType.Text),
            P("redirects", Column(r => r.Response?.Redirects), NpgsqlDbType.Array | NpgsqlDbType.Integer),
            P("ctype", Column(r => r.Response?.ContentType), NpgsqlDbType.Array | NpgsqlDbType.Text),
            P("clen", Column(r => r.Response?.ContentLength), NpgsqlDbType.Array | NpgsqlDbType.Bigint),
            P("sha", Column(r => r.Response?.Sha256), NpgsqlDbType.Array | NpgsqlDbType.Text),
            P("body", Column(r => r.Response?.Body), NpgsqlDbType.Array | NpgsqlDbType.Text),
            P("ecode", Column(r => r.Error is null ? (short?)null : (short)r.Error.Code), NpgsqlDbType.Array | NpgsqlDbType.Smallint),
            P("emsg", Column(r => r.Error?.Message), NpgsqlDbType.Array | NpgsqlDbType.Text),
            P("extracted", Column(ExtractedJson), NpgsqlDbType.Array | NpgsqlDbType.Text));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var batchId = reader.GetGuid(0);
            if (!deltas.TryGetValue(batchId, out var delta))
            {
                deltas[batchId] = delta = new int[4];
            }

            delta[reader.GetInt16(1)]++;
        }

        return deltas;
    }
}
