using FetchApi.Engine;
using Microsoft.Data.Sqlite;
using SQLitePCL;
using static FetchApi.Storage.SqliteDatabase;
using static FetchApi.Storage.SqliteRaw;
using static FetchApi.Storage.StoreRows;

namespace FetchApi.Storage;

#pragma warning disable VSTHRD103 // see SqliteDatabase

/// <summary>Writes groups of slot results into the SQLite file, one transaction per group.</summary>
public sealed class SqliteResultSink(SqliteDatabase db) : IResultSink
{
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

    /// <summary>
    /// The one statement per result, bound by position through SQLitePCL (<see cref="SqliteRaw"/>): by name, its 17
    /// parameters were most of the writer's managed CPU (issue 16).
    /// </summary>
    static readonly string UpdateSql =
        "UPDATE slots SET state = ?1, attempts = ?2, duration_ms = ?3, status_code = ?4, reason = ?5, final_url = ?6, redirects = ?7, " +
        "content_type = ?8, content_length = ?9, sha256 = ?10, body = ?11, error_code = ?12, error_message = ?13, done_seq = ?14, " +
        "extracted = ?17 " +
        $"WHERE batch_seq = ?15 AND idx = ?16 AND state = {Pending};";

    /// <summary>Records each result whose slot is still pending; returns, per batch, how many slots moved to each state.</summary>
    static async Task<Dictionary<Guid, int[]>> RecordAsync(SqliteConnection c, SqliteTransaction tx, IReadOnlyList<SlotUpdate> results,
        CancellationToken cancellationToken)
    {
        var deltas = new Dictionary<Guid, int[]>();
        var doneSeq = await ScalarAsync(c, tx, "SELECT value FROM counters WHERE name = 'done_seq';", cancellationToken);
        // A group holds results of few batches: look each one's key up once, not once per row.
        var seqs = new Dictionary<Guid, long>();
        foreach (var (batchId, _, _) in results)
        {
            if (!seqs.ContainsKey(batchId))
            {
                seqs[batchId] = await ScalarAsync(c, tx, "SELECT COALESCE((SELECT seq FROM batches WHERE id = $id), 0);",
                    cancellationToken, ("$id", batchId.ToString()));
            }
        }

        var db = c.Handle!;
        Check(db, raw.sqlite3_prepare_v2(db, UpdateSql, out var update));
        using (update)
        {
            foreach (var (batchId, slot, _) in results)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var response = slot.Response;
                Check(db, raw.sqlite3_bind_int(update, 1, (int)slot.State));
                Check(db, raw.sqlite3_bind_int(update, 2, slot.Attempts));
                Check(db, slot.DurationMs is { } duration ? raw.sqlite3_bind_int64(update, 3, duration) : raw.sqlite3_bind_null(update, 3));
                Check(db, response is null ? raw.sqlite3_bind_null(update, 4) : raw.sqlite3_bind_int(update, 4, response.StatusCode));
                Check(db, Text(update, 5, response?.ReasonPhrase));
                Check(db, Text(update, 6, response?.FinalUrl));
                Check(db, response is null ? raw.sqlite3_bind_null(update, 7) : raw.sqlite3_bind_int(update, 7, response.Redirects));
                Check(db, Text(update, 8, response?.ContentType));
                Check(db, response is null ? raw.sqlite3_bind_null(update, 9) : raw.sqlite3_bind_int64(update, 9, response.ContentLength));
                Check(db, Text(update, 10, response?.Sha256));
                Check(db, Text(update, 11, response?.Body));
                Check(db, slot.Error is null ? raw.sqlite3_bind_null(update, 12) : raw.sqlite3_bind_int(update, 12, (int)slot.Error.Code));
                Check(db, Text(update, 13, slot.Error?.Message));
                Check(db, raw.sqlite3_bind_int64(update, 14, doneSeq + 1));
                Check(db, raw.sqlite3_bind_int64(update, 15, seqs[batchId]));
                Check(db, raw.sqlite3_bind_int(update, 16, slot.Index));
                Check(db, Text(update, 17, ExtractedJson(slot)));
                if (Step(db, update) == 1)
                {
                    doneSeq++;
                    if (!deltas.TryGetValue(batchId, out var delta))
                    {
                        deltas[batchId] = delta = new int[4];
                    }

                    delta[(int)slot.State]++;
                }
            }
        }

        await ExecuteAsync(c, tx, "UPDATE counters SET value = $v WHERE name = 'done_seq';", cancellationToken, ("$v", doneSeq));
        return deltas;
    }
}
