using System.Text.Json;
using FetchApi.Model;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace FetchApi.Storage;

// Microsoft.Data.Sqlite does its I/O synchronously even behind *Async methods (SQLite is an in-process library);
// BeginTransaction(deferred) and Prepare have no async form at all. Awaiting the others keeps call sites uniform.
#pragma warning disable VSTHRD103

/// <summary>
/// The embedded default store: one SQLite file in WAL mode (readers never wait for the writer).
/// Timestamps are Unix milliseconds, enums their numbers, options JSON.
/// </summary>
public sealed class SqliteBatchStore : IBatchStore
{
    const int SchemaVersion = 1;

    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    const string SummaryColumns =
        "b.seq, b.id, b.status, b.created_at, b.started_at, b.completed_at, b.options, b.total, b.pending, b.fetched, b.failed, b.cancelled";

    const string SlotColumns =
        "idx, url, state, attempts, duration_ms, status_code, reason, final_url, redirects, content_type, content_length, sha256, body, error_code, error_message";

    readonly string _connectionString;
    readonly long _busyTimeoutMs;

    public SqliteBatchStore(IOptions<StorageOptions> options)
    {
        _busyTimeoutMs = (long)options.Value.BusyTimeout.TotalMilliseconds;
        var builder = new SqliteConnectionStringBuilder(options.Value.ConnectionString) { Pooling = true };
        if (builder.DataSource is { Length: > 0 } file && file != ":memory:" && Path.GetDirectoryName(Path.GetFullPath(file)) is { } dir)
        {
            Directory.CreateDirectory(dir);
        }

        _connectionString = builder.ToString();
    }

    async Task<SqliteConnection> OpenAsync(CancellationToken ct)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(ct);
        // FULL: a commit is on disk before 202 goes out, even across a power cut. busy_timeout: wait for the writer lock.
        await ExecuteAsync(connection, null, $"PRAGMA synchronous=FULL; PRAGMA busy_timeout={_busyTimeoutMs}; PRAGMA foreign_keys=ON;", ct);
        return connection;
    }

    // SQLITE_BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN: the file cannot take a write now, through no fault of the request.
    static bool IsUnavailable(SqliteException e) => (e.SqliteErrorCode & 0xFF) is 5 or 6 or 8 or 10 or 13 or 14;

    /// <summary>Runs a write, reporting an unavailable file as <see cref="StoreUnavailableException"/>.</summary>
    async Task<T> WriteGuardedAsync<T>(Func<SqliteConnection, Task<T>> write, CancellationToken ct)
    {
        try
        {
            await using var c = await OpenAsync(ct);
            return await write(c);
        }
        catch (SqliteException e) when (IsUnavailable(e))
        {
            throw new StoreUnavailableException(e);
        }
    }

    static async Task<int> ExecuteAsync(SqliteConnection c, SqliteTransaction? tx, string sql, CancellationToken ct,
        params (string Name, object? Value)[] parameters)
    {
        await using var command = Command(c, tx, sql, parameters);
        return await command.ExecuteNonQueryAsync(ct);
    }

    static SqliteCommand Command(SqliteConnection c, SqliteTransaction? tx, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = c.CreateCommand();
        command.CommandText = sql;
        command.Transaction = tx;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command;
    }

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        await ExecuteAsync(c, null, "PRAGMA journal_mode=WAL;", cancellationToken);
        await using var version = Command(c, null, "PRAGMA user_version;");
        var current = Convert.ToInt32(await version.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
        if (current > SchemaVersion)
        {
            throw new InvalidOperationException(
                $"The database has schema version {current}, newer than this build's {SchemaVersion}. Use a newer build or another file.");
        }

        await using var tx = c.BeginTransaction();
        if (current < 1)
        {
            await ExecuteAsync(c, tx, Schema.V1, cancellationToken);
        }

        // Later versions add their migration here: if (current < 2) { ... }
        await ExecuteAsync(c, tx, $"PRAGMA user_version={SchemaVersion};", cancellationToken);
        await tx.CommitAsync(cancellationToken);
    }

    public Task CreateAsync(NewBatch batch, CancellationToken cancellationToken) =>
        WriteGuardedAsync(c => CreateAsync(c, batch, cancellationToken), cancellationToken);

    static async Task<bool> CreateAsync(SqliteConnection c, NewBatch batch, CancellationToken cancellationToken)
    {
        await using var tx = c.BeginTransaction();
        await using var insert = Command(c, tx,
            "INSERT INTO batches (id, status, created_at, options, headers, total, pending, fetched, failed, cancelled) " +
            "VALUES ($id, 0, $created, $options, $headers, $n, $n, 0, 0, 0) RETURNING seq;",
            ("$id", batch.Id.ToString()), ("$created", batch.CreatedAt.ToUnixTimeMilliseconds()),
            ("$options", JsonSerializer.Serialize(batch.Options, Json)),
            ("$headers", JsonSerializer.Serialize(batch.Options.Headers, Json)), ("$n", batch.Urls.Count));
        var seq = (long)(await insert.ExecuteScalarAsync(cancellationToken))!;

        await using var slot = Command(c, tx, "INSERT INTO slots (batch_seq, idx, url) VALUES ($seq, $idx, $url);", ("$seq", seq));
        var idx = slot.Parameters.Add("$idx", SqliteType.Integer);
        var url = slot.Parameters.Add("$url", SqliteType.Text);
        slot.Prepare();
        for (var i = 0; i < batch.Urls.Count; i++)
        {
            idx.Value = i;
            url.Value = batch.Urls[i];
            await slot.ExecuteNonQueryAsync(cancellationToken);
        }

        await tx.CommitAsync(cancellationToken);
        return true;
    }

    public async Task<BatchSummary?> GetSummaryAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        return (await ReadSummaryAsync(c, null, id, cancellationToken))?.Summary;
    }

    static async Task<(long Seq, BatchSummary Summary)?> ReadSummaryAsync(SqliteConnection c, SqliteTransaction? tx, Guid id, CancellationToken ct)
    {
        await using var command = Command(c, tx, $"SELECT {SummaryColumns} FROM batches b WHERE b.id = $id;", ("$id", id.ToString()));
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? (reader.GetInt64(0), ReadSummary(reader)) : null;
    }

    static BatchSummary ReadSummary(SqliteDataReader r) => new()
    {
        Id = Guid.Parse(r.GetString(1)),
        Status = (BatchStatus)r.GetInt32(2),
        CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(3)),
        StartedAt = r.IsDBNull(4) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(4)),
        CompletedAt = r.IsDBNull(5) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(5)),
        Options = JsonSerializer.Deserialize<BatchOptions>(r.GetString(6), Json)!,
        Counts = new BatchCounts(r.GetInt32(7), r.GetInt32(8), r.GetInt32(9), r.GetInt32(10), r.GetInt32(11)),
    };

    public async Task<BatchPage?> GetPageAsync(Guid id, SlotState? state, int offset, int limit, CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        // One read transaction: the counts and the slots come from the same snapshot.
        await using var tx = c.BeginTransaction(deferred: true);
        if (await ReadSummaryAsync(c, tx, id, cancellationToken) is not var (seq, summary))
        {
            return null;
        }

        var slots = new List<SlotResult>(Math.Min(limit, summary.Counts.Total));
        if (limit > 0)
        {
            await using var command = Command(c, tx,
                $"SELECT {SlotColumns} FROM slots WHERE batch_seq = $seq {(state is null ? "" : "AND state = $state")} " +
                "ORDER BY idx LIMIT $limit OFFSET $offset;",
                ("$seq", seq), ("$state", (int?)state), ("$limit", limit), ("$offset", offset));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                slots.Add(ReadSlot(reader));
            }
        }

        var counts = summary.Counts;
        var matching = state switch
        {
            null => counts.Total,
            SlotState.Pending => counts.Pending,
            SlotState.Fetched => counts.Fetched,
            SlotState.Failed => counts.Failed,
            _ => counts.Cancelled,
        };
        return new BatchPage(summary, slots, matching);
    }

    static SlotResult ReadSlot(SqliteDataReader r)
    {
        var state = (SlotState)r.GetInt32(2);
        return new SlotResult
        {
            Index = r.GetInt32(0),
            Url = r.GetString(1),
            State = state,
            Attempts = r.GetInt32(3),
            DurationMs = r.IsDBNull(4) ? null : r.GetInt64(4),
            Response = r.IsDBNull(5) ? null : new FetchResponse
            {
                StatusCode = r.GetInt32(5),
                ReasonPhrase = r.IsDBNull(6) ? null : r.GetString(6),
                FinalUrl = r.GetString(7),
                Redirects = r.GetInt32(8),
                ContentType = r.IsDBNull(9) ? null : r.GetString(9),
                ContentLength = r.GetInt64(10),
                Sha256 = r.GetString(11),
                Body = r.IsDBNull(12) ? null : r.GetString(12),
            },
            Error = r.IsDBNull(13) ? null : new FetchError((FetchErrorCode)r.GetInt32(13), r.GetString(14)),
        };
    }

    public async Task<(IReadOnlyList<BatchSummary> Batches, long? NextCursor)> ListAsync(
        BatchStatus? status, int limit, long? before, CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        await using var command = Command(c, null,
            $"SELECT {SummaryColumns} FROM batches b WHERE b.seq < $before {(status is null ? "" : "AND b.status = $status")} " +
            "ORDER BY b.seq DESC LIMIT $limit;",
            ("$before", before ?? long.MaxValue), ("$status", (int?)status), ("$limit", limit + 1));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var list = new List<BatchSummary>();
        long lastSeq = 0;
        while (await reader.ReadAsync(cancellationToken))
        {
            if (list.Count == limit)
            {
                return (list, lastSeq);
            }

            lastSeq = reader.GetInt64(0);
            list.Add(ReadSummary(reader));
        }

        return (list, null);
    }

    public Task<(CancelOutcome Outcome, BatchSummary? Summary)> CancelAsync(Guid id, DateTimeOffset now, CancellationToken cancellationToken) =>
        WriteGuardedAsync(c => CancelAsync(c, id, now, cancellationToken), cancellationToken);

    static async Task<(CancelOutcome Outcome, BatchSummary? Summary)> CancelAsync(SqliteConnection c, Guid id, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        await using var tx = c.BeginTransaction(deferred: false);
        if (await ReadSummaryAsync(c, tx, id, cancellationToken) is not var (seq, summary))
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

        var cancelled = await ExecuteAsync(c, tx, "UPDATE slots SET state = 3 WHERE batch_seq = $seq AND state = 0;", cancellationToken, ("$seq", seq));
        await ExecuteAsync(c, tx,
            "UPDATE batches SET status = 3, completed_at = $now, pending = pending - $n, cancelled = cancelled + $n WHERE seq = $seq;",
            cancellationToken, ("$seq", seq), ("$now", now.ToUnixTimeMilliseconds()), ("$n", cancelled));
        var after = (await ReadSummaryAsync(c, tx, id, cancellationToken))!.Value.Summary;
        await tx.CommitAsync(cancellationToken);
        return (CancelOutcome.Cancelled, after);
    }

    public Task<bool> DeleteAsync(Guid id, CancellationToken cancellationToken) =>
        WriteGuardedAsync(c => DeleteAsync(c, id, cancellationToken), cancellationToken);

    static async Task<bool> DeleteAsync(SqliteConnection c, Guid id, CancellationToken cancellationToken)
    {
        await using var tx = c.BeginTransaction(deferred: false);
        await ExecuteAsync(c, tx, "DELETE FROM slots WHERE batch_seq = (SELECT seq FROM batches WHERE id = $id);", cancellationToken,
            ("$id", id.ToString()));
        var deleted = await ExecuteAsync(c, tx, "DELETE FROM batches WHERE id = $id;", cancellationToken, ("$id", id.ToString()));
        await tx.CommitAsync(cancellationToken);
        return deleted > 0;
    }

    public async Task WriteAsync(IReadOnlyList<SlotUpdate> results, IReadOnlyList<(Guid BatchId, DateTimeOffset At)> started,
        DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        await using var tx = c.BeginTransaction(deferred: false);

        foreach (var (batchId, at) in started)
        {
            await ExecuteAsync(c, tx, "UPDATE batches SET status = 1, started_at = $at WHERE id = $id AND status = 0;",
                cancellationToken, ("$id", batchId.ToString()), ("$at", at.ToUnixTimeMilliseconds()));
        }

        // Per batch: how many slots moved from pending to each final state.
        var deltas = new Dictionary<Guid, int[]>();
        if (results.Count > 0)
        {
            await using var update = Command(c, tx,
                "UPDATE slots SET state = $state, attempts = $attempts, duration_ms = $duration, status_code = $status, reason = $reason, " +
                "final_url = $final, redirects = $redirects, content_type = $ctype, content_length = $clen, sha256 = $sha, body = $body, " +
                "error_code = $ecode, error_message = $emsg " +
                "WHERE batch_seq = (SELECT seq FROM batches WHERE id = $id) AND idx = $idx AND state = 0;");
            foreach (var name in new[] { "$state", "$attempts", "$duration", "$status", "$reason", "$final", "$redirects", "$ctype", "$clen",
                         "$sha", "$body", "$ecode", "$emsg", "$id", "$idx" })
            {
                update.Parameters.Add(new SqliteParameter { ParameterName = name });
            }

            update.Prepare();
            foreach (var (batchId, slot) in results)
            {
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
                p["$id"].Value = batchId.ToString();
                p["$idx"].Value = slot.Index;
                if (await update.ExecuteNonQueryAsync(cancellationToken) == 1)
                {
                    if (!deltas.TryGetValue(batchId, out var delta))
                    {
                        deltas[batchId] = delta = new int[4];
                    }

                    delta[(int)slot.State]++;
                }
            }
        }

        foreach (var (batchId, d) in deltas)
        {
            var moved = d[1] + d[2] + d[3];
            await ExecuteAsync(c, tx,
                "UPDATE batches SET pending = pending - $moved, fetched = fetched + $f, failed = failed + $x, cancelled = cancelled + $c " +
                "WHERE id = $id;",
                cancellationToken, ("$id", batchId.ToString()), ("$moved", moved), ("$f", d[1]), ("$x", d[2]), ("$c", d[3]));
        }

        foreach (var batchId in deltas.Keys.Union(started.Select(s => s.BatchId)))
        {
            await ExecuteAsync(c, tx,
                "UPDATE batches SET status = 2, completed_at = $now, started_at = COALESCE(started_at, $now) " +
                "WHERE id = $id AND status IN (0, 1) AND pending = 0;",
                cancellationToken, ("$id", batchId.ToString()), ("$now", now.ToUnixTimeMilliseconds()));
        }

        await tx.CommitAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<UnfinishedBatch>> GetUnfinishedAsync(CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        await using var command = Command(c, null, "SELECT id, options, headers, pending FROM batches WHERE status IN (0, 1) ORDER BY seq;");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var list = new List<UnfinishedBatch>();
        while (await reader.ReadAsync(cancellationToken))
        {
            var options = JsonSerializer.Deserialize<BatchOptions>(reader.GetString(1), Json)! with
            {
                Headers = JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(2), Json) ?? [],
            };
            list.Add(new UnfinishedBatch(Guid.Parse(reader.GetString(0)), options, reader.GetInt32(3)));
        }

        return list;
    }

    public async Task<IReadOnlyList<PendingSlot>> GetPendingSlotsAsync(Guid id, int afterIndex, int limit, CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        await using var command = Command(c, null,
            "SELECT idx, url FROM slots WHERE batch_seq = (SELECT seq FROM batches WHERE id = $id) AND state = 0 AND idx > $after " +
            "ORDER BY idx LIMIT $limit;",
            ("$id", id.ToString()), ("$after", afterIndex), ("$limit", limit));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var list = new List<PendingSlot>();
        while (await reader.ReadAsync(cancellationToken))
        {
            list.Add(new PendingSlot(reader.GetInt32(0), reader.GetString(1)));
        }

        return list;
    }

    public async Task<int> DeleteEndedBeforeAsync(DateTimeOffset endedBefore, int limit, CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        await using var tx = c.BeginTransaction(deferred: false);
        await using var select = Command(c, tx, "SELECT seq FROM batches WHERE status IN (2, 3) AND completed_at < $t LIMIT $limit;",
            ("$t", endedBefore.ToUnixTimeMilliseconds()), ("$limit", limit));
        var seqs = new List<long>();
        await using (var reader = await select.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                seqs.Add(reader.GetInt64(0));
            }
        }

        foreach (var seq in seqs)
        {
            await ExecuteAsync(c, tx, "DELETE FROM slots WHERE batch_seq = $seq; DELETE FROM batches WHERE seq = $seq;", cancellationToken,
                ("$seq", seq));
        }

        await tx.CommitAsync(cancellationToken);
        return seqs.Count;
    }

    public async Task CheckAsync(CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        await using var tx = c.BeginTransaction(deferred: false);
        await ExecuteAsync(c, tx, "INSERT OR REPLACE INTO health (id, checked_at) VALUES (1, $now);", cancellationToken,
            ("$now", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
        await tx.CommitAsync(cancellationToken);
    }
}
