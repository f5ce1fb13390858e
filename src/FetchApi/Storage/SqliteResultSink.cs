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
            // Every statement here is prepared once per connection and kept (SqlitePerConnection.Prepared): the writer commits
            // hundreds of small groups a second when results trickle in (issue 16).
            await using var tx = c.BeginTransaction(deferred: false);
            var h = c.Handle!;
            foreach (var (batchId, at) in started)
            {
                var start = db.PerConnection.Prepared(c, StartSql);
                Check(h, raw.sqlite3_bind_text(start, 1, batchId.ToString()));
                Check(h, raw.sqlite3_bind_int64(start, 2, Ms(at)));
                Step(h, start);
            }

            var moved = results.Count > 0 ? RecordAll(c, results, cancellationToken) : new Dictionary<Guid, int[]>();
            var counts = db.PerConnection.Prepared(c,
                "UPDATE batches SET pending = pending - ?2, fetched = fetched + ?3, failed = failed + ?4, cancelled = cancelled + ?5 WHERE id = ?1;");
            foreach (var (batchId, d) in moved)
            {
                Check(h, raw.sqlite3_bind_text(counts, 1, batchId.ToString()));
                Check(h, raw.sqlite3_bind_int(counts, 2, d[Fetched] + d[Failed] + d[Cancelled]));
                Check(h, raw.sqlite3_bind_int(counts, 3, d[Fetched]));
                Check(h, raw.sqlite3_bind_int(counts, 4, d[Failed]));
                Check(h, raw.sqlite3_bind_int(counts, 5, d[Cancelled]));
                Step(h, counts);
            }

            var touched = moved.Keys.Union(started.Select(s => s.BatchId)).ToList();
            var completed = new List<Guid>();
            var complete = db.PerConnection.Prepared(c, CompleteSql);
            foreach (var batchId in touched)
            {
                Check(h, raw.sqlite3_bind_text(complete, 1, batchId.ToString()));
                Check(h, raw.sqlite3_bind_int64(complete, 2, Ms(now)));
                if (Step(h, complete) == 1)
                {
                    completed.Add(batchId);
                }
            }

            await tx.CommitAsync(cancellationToken);
            return new WriteResult(touched, completed);
        }, cancellationToken);

    static readonly string StartSql = $"UPDATE batches SET status = {Running}, started_at = ?2 WHERE id = ?1 AND status = {Queued};";

    static readonly string CompleteSql =
        $"UPDATE batches SET status = {Completed}, completed_at = ?2, started_at = COALESCE(started_at, ?2) " +
        $"WHERE id = ?1 AND status IN ({Queued}, {Running}) AND pending = 0;";

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
    Dictionary<Guid, int[]> RecordAll(SqliteConnection c, IReadOnlyList<SlotUpdate> results, CancellationToken cancellationToken)
    {
        var h = c.Handle!;
        var deltas = new Dictionary<Guid, int[]>();
        var doneSeq = Scalar(h, db.PerConnection.Prepared(c, "SELECT value FROM counters WHERE name = 'done_seq';"));
        // A group holds results of few batches: look each one's key up once, not once per row.
        var seqs = new Dictionary<Guid, long>();
        var key = db.PerConnection.Prepared(c, "SELECT seq FROM batches WHERE id = ?1;");
        foreach (var (batchId, _, _) in results)
        {
            if (!seqs.ContainsKey(batchId))
            {
                Check(h, raw.sqlite3_bind_text(key, 1, batchId.ToString()));
                seqs[batchId] = Scalar(h, key);
            }
        }

        var update = db.PerConnection.Prepared(c, UpdateSql);
        foreach (var (batchId, slot, _) in results)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var response = slot.Response;
            Check(h, raw.sqlite3_bind_int(update, 1, (int)slot.State));
            Check(h, raw.sqlite3_bind_int(update, 2, slot.Attempts));
            Check(h, slot.DurationMs is { } duration ? raw.sqlite3_bind_int64(update, 3, duration) : raw.sqlite3_bind_null(update, 3));
            Check(h, response is null ? raw.sqlite3_bind_null(update, 4) : raw.sqlite3_bind_int(update, 4, response.StatusCode));
            Check(h, Text(update, 5, response?.ReasonPhrase));
            Check(h, Text(update, 6, response?.FinalUrl));
            Check(h, response is null ? raw.sqlite3_bind_null(update, 7) : raw.sqlite3_bind_int(update, 7, response.Redirects));
            Check(h, Text(update, 8, response?.ContentType));
            Check(h, response is null ? raw.sqlite3_bind_null(update, 9) : raw.sqlite3_bind_int64(update, 9, response.ContentLength));
            Check(h, Text(update, 10, response?.Sha256));
            Check(h, Text(update, 11, response?.Body));
            Check(h, slot.Error is null ? raw.sqlite3_bind_null(update, 12) : raw.sqlite3_bind_int(update, 12, (int)slot.Error.Code));
            Check(h, Text(update, 13, slot.Error?.Message));
            Check(h, raw.sqlite3_bind_int64(update, 14, doneSeq + 1));
            Check(h, raw.sqlite3_bind_int64(update, 15, seqs[batchId]));
            Check(h, raw.sqlite3_bind_int(update, 16, slot.Index));
            Check(h, Text(update, 17, ExtractedJson(slot)));
            if (Step(h, update) == 1)
            {
                doneSeq++;
                if (!deltas.TryGetValue(batchId, out var delta))
                {
                    deltas[batchId] = delta = new int[4];
                }

                delta[(int)slot.State]++;
            }
        }

        var counter = db.PerConnection.Prepared(c, "UPDATE counters SET value = ?1 WHERE name = 'done_seq';");
        Check(h, raw.sqlite3_bind_int64(counter, 1, doneSeq));
        Step(h, counter);
        return deltas;
    }
}
