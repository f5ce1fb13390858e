using FetchApi.Engine;
using Microsoft.Data.Sqlite;
using static FetchApi.Storage.SqliteDatabase;
using static FetchApi.Storage.StoreRows;

namespace FetchApi.Storage;

#pragma warning disable VSTHRD103 // see SqliteDatabase

/// <summary>Writes groups of slot results into the SQLite file, one transaction per group.</summary>
public sealed class SqliteResultSink(SqliteDatabase db) : IResultSink
{
    static readonly string[] UpdateParameters =
        ["$state", "$attempts", "$duration", "$status", "$reason", "$final", "$redirects", "$ctype", "$clen", "$sha", "$body", "$ecode", "$emsg",
         "$done", "$seq", "$idx", "$extracted"];

    public Task<WriteResult> WriteAsync(IReadOnlyList<SlotUpdate> results, IReadOnlyList<BatchStarted> started, DateTimeOffset now,
        CancellationToken cancellationToken) =>
        db.WriteAsync(async c =>
        {
            await using var tx = c.BeginTransaction(deferred: false);
            foreach (var (batchId, at) in started)
            {
                await ExecuteAsync(c, tx, $"UPDATE batches SET status = {Running}, started_at = $at WHERE id = $id AND status = {Queued};",
                    cancellationToken, ("$id", batchId.ToString()), ("$at", Ms(at)));
            }

            var moved = results.Count > 0 ? await RecordAsync(c, tx, results, cancellationToken) : new Dictionary<Guid, int[]>();
            foreach (var (batchId, d) in moved)
            {
                await ExecuteAsync(c, tx,
                    "UPDATE batches SET pending = pending - $moved, fetched = fetched + $f, failed = failed + $x, cancelled = cancelled + $c " +
                    "WHERE id = $id;",
                    cancellationToken, ("$id", batchId.ToString()), ("$moved", d[Fetched] + d[Failed] + d[Cancelled]), ("$f", d[Fetched]),
                    ("$x", d[Failed]), ("$c", d[Cancelled]));
            }

            var touched = moved.Keys.Union(started.Select(s => s.BatchId)).ToList();
            var completed = new List<Guid>();
            foreach (var batchId in touched)
            {
                var ended = await ExecuteAsync(c, tx,
                    $"UPDATE batches SET status = {Completed}, completed_at = $now, started_at = COALESCE(started_at, $now) " +
                    $"WHERE id = $id AND status IN ({Queued}, {Running}) AND pending = 0;",
                    cancellationToken, ("$id", batchId.ToString()), ("$now", Ms(now)));
                if (ended == 1)
                {
                    completed.Add(batchId);
                }
            }

            await tx.CommitAsync(cancellationToken);
            return new WriteResult(touched, completed);
        }, cancellationToken);

    /// <summary>Records each result whose slot is still pending; returns, per batch, how many slots moved to each state.</summary>
    static async Task<Dictionary<Guid, int[]>> RecordAsync(SqliteConnection c, SqliteTransaction tx, IReadOnlyList<SlotUpdate> results,
        CancellationToken cancellationToken)
    {
        var deltas = new Dictionary<Guid, int[]>();
        var doneSeq = await ScalarAsync(c, tx, "SELECT value FROM counters WHERE name = 'done_seq';", cancellationToken);
        await using var update = Command(c, tx,
            "UPDATE slots SET state = $state, attempts = $attempts, duration_ms = $duration, status_code = $status, reason = $reason, " +
            "final_url = $final, redirects = $redirects, content_type = $ctype, content_length = $clen, sha256 = $sha, body = $body, " +
            "error_code = $ecode, error_message = $emsg, done_seq = $done, extracted = $extracted " +
            $"WHERE batch_seq = $seq AND idx = $idx AND state = {Pending};");
        foreach (var name in UpdateParameters)
        {
            update.Parameters.Add(new SqliteParameter { ParameterName = name });
        }

        update.Prepare();
        // A group holds results of few batches: look each one's key up once, not once per row.
        var seqs = new Dictionary<Guid, long>();
        foreach (var (batchId, slot, _) in results)
        {
            if (!seqs.TryGetValue(batchId, out var seq))
            {
                seqs[batchId] = seq = await ScalarAsync(c, tx, "SELECT COALESCE((SELECT seq FROM batches WHERE id = $id), 0);",
                    cancellationToken, ("$id", batchId.ToString()));
            }

            var p = update.Parameters;
            var response = slot.Response;
            p["$state"].Value = (int)slot.State;
            p["$attempts"].Value = slot.Attempts;
            p["$duration"].Value = (object?)slot.DurationMs ?? DBNull.Value;
            p["$status"].Value = (object?)response?.StatusCode ?? DBNull.Value;
            p["$reason"].Value = (object?)response?.ReasonPhrase ?? DBNull.Value;
            p["$final"].Value = (object?)response?.FinalUrl ?? DBNull.Value;
            p["$redirects"].Value = (object?)response?.Redirects ?? DBNull.Value;
            p["$ctype"].Value = (object?)response?.ContentType ?? DBNull.Value;
            p["$clen"].Value = (object?)response?.ContentLength ?? DBNull.Value;
            p["$sha"].Value = (object?)response?.Sha256 ?? DBNull.Value;
            p["$body"].Value = (object?)response?.Body ?? DBNull.Value;
            p["$ecode"].Value = slot.Error is null ? DBNull.Value : (int)slot.Error.Code;
            p["$emsg"].Value = (object?)slot.Error?.Message ?? DBNull.Value;
            p["$done"].Value = doneSeq + 1;
            p["$seq"].Value = seq;
            p["$idx"].Value = slot.Index;
            p["$extracted"].Value = (object?)ExtractedJson(slot) ?? DBNull.Value;
            if (await update.ExecuteNonQueryAsync(cancellationToken) == 1)
            {
                doneSeq++;
                if (!deltas.TryGetValue(batchId, out var delta))
                {
                    deltas[batchId] = delta = new int[4];
                }

                delta[(int)slot.State]++;
            }
        }

        await ExecuteAsync(c, tx, "UPDATE counters SET value = $v WHERE name = 'done_seq';", cancellationToken, ("$v", doneSeq));
        return deltas;
    }
}
