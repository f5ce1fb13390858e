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
    /// parameters were most of the writer's managed CPU. The slot is found by its integer key (schema step 5; its index
    /// makes sure the key is this batch's) (issue 16).
    /// </summary>
    static readonly string UpdateSql =
        "UPDATE slots SET state = ?1, attempts = ?2, duration_ms = ?3, status_code = ?4, reason = ?5, final_url = ?6, redirects = ?7, " +
        "content_type = ?8, content_length = ?9, sha256 = ?10, body = ?11, error_code = ?12, error_message = ?13, done_seq = ?14, " +
        "extracted = ?16 " +
        $"WHERE slot_id = ?15 AND idx = ?17 AND state = {Pending};";

    /// <summary>A batch's first slot key and the last number of its order of final slots.</summary>
    static readonly string BatchSql = $"SELECT first_slot, {SqliteSchema.LastDone("b.seq")} FROM batches b WHERE id = ?1;";

    /// <summary>Where a group's batch stands: its first slot key, the last final-order number given, how many slots moved to each state.</summary>
    sealed class Moved(long firstSlot, long lastDone)
    {
        public long FirstSlot { get; } = firstSlot;
        public long LastDone { get; set; } = lastDone;
        public int[] Delta { get; } = new int[4];
    }

    /// <summary>Records each result whose slot is still pending; returns, per batch, how many slots moved to each state.</summary>
    Dictionary<Guid, int[]> RecordAll(SqliteConnection c, IReadOnlyList<SlotUpdate> results, CancellationToken cancellationToken)
    {
        var h = c.Handle!;
        // A group holds results of few batches: look each one up once, not once per row.
        var batches = new Dictionary<Guid, Moved?>();
        var lookup = db.PerConnection.Prepared(c, BatchSql);
        foreach (var (batchId, _) in results)
        {
            if (!batches.ContainsKey(batchId))
            {
                Check(h, raw.sqlite3_bind_text(lookup, 1, batchId.ToString()));
                // A batch deleted meanwhile has no slots left to update (its keys may be another batch's by now).
                batches[batchId] = Pair(h, lookup) is var (first, last) ? new Moved(first, last) : null;
            }
        }

        var update = db.PerConnection.Prepared(c, UpdateSql);
        foreach (var (batchId, slot) in results)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (batches[batchId] is not { } batch)
            {
                continue;
            }

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
            Check(h, raw.sqlite3_bind_int64(update, 14, batch.LastDone + 1));
            Check(h, raw.sqlite3_bind_int64(update, 15, batch.FirstSlot + slot.Index));
            Check(h, Text(update, 16, ExtractedJson(slot)));
            Check(h, raw.sqlite3_bind_int(update, 17, slot.Index));
            if (Step(h, update) == 1)
            {
                batch.LastDone++;
                batch.Delta[(int)slot.State]++;
            }
        }

        return batches.Where(b => b.Value?.Delta.Any(n => n > 0) == true).ToDictionary(b => b.Key, b => b.Value!.Delta);
    }

}
