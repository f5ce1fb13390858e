using System.Globalization;
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
/// Timestamps are Unix milliseconds, enums their numbers, options JSON. Owners are compared with <c>IS</c>, so the
/// open service (owner null) and each API key see only their own batches.
/// </summary>
public sealed class SqliteBatchStore : IBatchStore, IDisposable
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    const string SummaryColumns =
        "b.seq, b.id, b.status, b.created_at, b.started_at, b.completed_at, b.options, b.total, b.pending, b.fetched, b.failed, b.cancelled";

    const string SlotColumns =
        "idx, url, state, attempts, duration_ms, status_code, reason, final_url, redirects, content_type, content_length, sha256, body, " +
        "error_code, error_message, done_seq";

    readonly string _connectionString;
    readonly long _busyTimeoutMs;
    readonly SemaphoreSlim _writes = new(1, 1);

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

    /// <summary>
    /// Runs a write for the API, reporting an unavailable file as <see cref="StoreUnavailableException"/>. Writes take
    /// turns on an async lock first: SQLite has one writer at a time anyway, and waiting here costs no thread, while
    /// waiting in SQLite's busy handler would block one.
    /// </summary>
    async Task<T> WriteGuardedAsync<T>(Func<SqliteConnection, Task<T>> write, CancellationToken ct)
    {
        await _writes.WaitAsync(ct);
        try
        {
            await using var c = await OpenAsync(ct);
            return await write(c);
        }
        catch (SqliteException e) when (IsUnavailable(e))
        {
            throw new StoreUnavailableException(e);
        }
        finally
        {
            _writes.Release();
        }
    }

    /// <summary>Runs a read for the API, reporting an unavailable file as <see cref="StoreUnavailableException"/>.</summary>
    async Task<T> ReadGuardedAsync<T>(Func<SqliteConnection, Task<T>> read, CancellationToken ct)
    {
        try
        {
            await using var c = await OpenAsync(ct);
            return await read(c);
        }
        catch (SqliteException e) when (IsUnavailable(e))
        {
            throw new StoreUnavailableException(e);
        }
    }

    /// <summary>Runs one of the engine's writes in its turn (see <see cref="WriteGuardedAsync{T}"/>).</summary>
    async Task<T> ExclusiveAsync<T>(Func<Task<T>> write, CancellationToken ct)
    {
        await _writes.WaitAsync(ct);
        try
        {
            return await write();
        }
        finally
        {
            _writes.Release();
        }
    }

    static async Task<int> ExecuteAsync(SqliteConnection c, SqliteTransaction? tx, string sql, CancellationToken ct,
        params (string Name, object? Value)[] parameters)
    {
        await using var command = Command(c, tx, sql, parameters);
        return await command.ExecuteNonQueryAsync(ct);
    }

    static async Task<long> ScalarAsync(SqliteConnection c, SqliteTransaction? tx, string sql, CancellationToken ct,
        params (string Name, object? Value)[] parameters)
    {
        await using var command = Command(c, tx, sql, parameters);
        return Convert.ToInt64(await command.ExecuteScalarAsync(ct), CultureInfo.InvariantCulture);
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

    static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();

    static DateTimeOffset? Time(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(i));

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        await ExecuteAsync(c, null, "PRAGMA journal_mode=WAL;", cancellationToken);
        var current = (int)await ScalarAsync(c, null, "PRAGMA user_version;", cancellationToken);
        if (current > Schema.Version)
        {
            throw new InvalidOperationException(
                $"The database has schema version {current}, newer than this build's {Schema.Version}. Use a newer build or another file.");
        }

        if (current == Schema.Version)
        {
            return;
        }

        await using var tx = c.BeginTransaction(deferred: false);
        for (var step = current; step < Schema.Version; step++)
        {
            await ExecuteAsync(c, tx, Schema.Steps[step], cancellationToken);
        }

        await ExecuteAsync(c, tx, $"PRAGMA user_version={Schema.Version};", cancellationToken);
        await tx.CommitAsync(cancellationToken);
    }

    public Task<CreateResult> CreateAsync(NewBatch batch, IdempotencyKey? idempotencyKey, Func<bool> admit, CancellationToken cancellationToken) =>
        WriteGuardedAsync(async c =>
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

            await using var insert = Command(c, tx,
                "INSERT INTO batches (id, owner, status, created_at, options, headers, total, pending, fetched, failed, cancelled, " +
                "callback_url, callback_secret, callback_state) " +
                "VALUES ($id, $owner, 0, $created, $options, $headers, $n, $n, 0, 0, 0, $cbUrl, $cbSecret, $cbState) RETURNING seq;",
                ("$id", batch.Id.ToString()), ("$owner", batch.Owner), ("$created", Ms(batch.CreatedAt)),
                ("$options", JsonSerializer.Serialize(batch.Options, Json)),
                ("$headers", JsonSerializer.Serialize(batch.Options.Headers, Json)), ("$n", batch.Urls.Count),
                ("$cbUrl", batch.Callback?.Url), ("$cbSecret", batch.Callback?.Secret),
                ("$cbState", (int)(batch.Callback is null ? CallbackState.None : CallbackState.Pending)));
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

    public Task<BatchSummary?> GetSummaryAsync(Guid id, string? owner, CancellationToken cancellationToken) =>
        ReadGuardedAsync(async c =>
        {
            return (await ReadSummaryAsync(c, null, id, owner, cancellationToken))?.Summary;
        }, cancellationToken);

    static async Task<(long Seq, BatchSummary Summary)?> ReadSummaryAsync(SqliteConnection c, SqliteTransaction? tx, Guid id, string? owner,
        CancellationToken ct)
    {
        await using var command = Command(c, tx, $"SELECT {SummaryColumns} FROM batches b WHERE b.id = $id AND b.owner IS $owner;",
            ("$id", id.ToString()), ("$owner", owner));
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? (reader.GetInt64(0), ReadSummary(reader)) : null;
    }

    static BatchSummary ReadSummary(SqliteDataReader r) => new()
    {
        Id = Guid.Parse(r.GetString(1)),
        Status = (BatchStatus)r.GetInt32(2),
        CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(3)),
        StartedAt = Time(r, 4),
        CompletedAt = Time(r, 5),
        Options = JsonSerializer.Deserialize<BatchOptions>(r.GetString(6), Json)!,
        Counts = new BatchCounts(r.GetInt32(7), r.GetInt32(8), r.GetInt32(9), r.GetInt32(10), r.GetInt32(11)),
    };

    public Task<BatchPage?> GetPageAsync(Guid id, string? owner, SlotState? state, int offset, int limit, CancellationToken cancellationToken) =>
        ReadGuardedAsync(async c =>
        {
            // One read transaction: the counts and the slots come from the same snapshot.
            await using var tx = c.BeginTransaction(deferred: true);
            if (await ReadSummaryAsync(c, tx, id, owner, cancellationToken) is not var (seq, summary))
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
        }, cancellationToken);

    public Task<BatchEvents?> GetEventsAsync(Guid id, string? owner, long afterSequence, int limit, CancellationToken cancellationToken) =>
        ReadGuardedAsync(async c =>
        {
            await using var tx = c.BeginTransaction(deferred: true);
            if (await ReadSummaryAsync(c, tx, id, owner, cancellationToken) is not var (seq, summary))
            {
                return null;
            }

            await using var command = Command(c, tx,
                $"SELECT {SlotColumns} FROM slots WHERE batch_seq = $seq AND done_seq > $after ORDER BY done_seq LIMIT $limit;",
                ("$seq", seq), ("$after", afterSequence), ("$limit", limit));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var slots = new List<FinalSlot>();
            while (await reader.ReadAsync(cancellationToken))
            {
                slots.Add(new FinalSlot(reader.GetInt64(15), ReadSlot(reader)));
            }

            return new BatchEvents(summary, slots);
        }, cancellationToken);

    static SlotResult ReadSlot(SqliteDataReader r) => new()
    {
        Index = r.GetInt32(0),
        Url = r.GetString(1),
        State = (SlotState)r.GetInt32(2),
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

    public Task<(IReadOnlyList<BatchSummary> Batches, long? NextCursor)> ListAsync(
        string? owner, BatchStatus? status, int limit, long? before, CancellationToken cancellationToken) =>
        ReadGuardedAsync<(IReadOnlyList<BatchSummary>, long?)>(async c =>
        {
            await using var command = Command(c, null,
                $"SELECT {SummaryColumns} FROM batches b WHERE b.owner IS $owner AND b.seq < $before " +
                $"{(status is null ? "" : "AND b.status = $status")} ORDER BY b.seq DESC LIMIT $limit;",
                ("$owner", owner), ("$before", before ?? long.MaxValue), ("$status", (int?)status), ("$limit", limit + 1));
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
        }, cancellationToken);

    public Task<(CancelOutcome Outcome, BatchSummary? Summary)> CancelAsync(Guid id, string? owner, DateTimeOffset now,
        CancellationToken cancellationToken) =>
        WriteGuardedAsync<(CancelOutcome, BatchSummary?)>(async c =>
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

            // Cancelled slots become final now, in index order, after every slot that became final before.
            var doneSeq = await ScalarAsync(c, tx, "SELECT value FROM counters WHERE name = 'done_seq';", cancellationToken);
            var cancelled = await ExecuteAsync(c, tx,
                "UPDATE slots SET state = 3, done_seq = $base + idx + 1 WHERE batch_seq = $seq AND state = 0;",
                cancellationToken, ("$seq", seq), ("$base", doneSeq));
            await ExecuteAsync(c, tx, "UPDATE counters SET value = value + $n WHERE name = 'done_seq';", cancellationToken,
                ("$n", summary.Counts.Total + 1));
            await ExecuteAsync(c, tx,
                "UPDATE batches SET status = 3, completed_at = $now, pending = pending - $n, cancelled = cancelled + $n WHERE seq = $seq;",
                cancellationToken, ("$seq", seq), ("$now", Ms(now)), ("$n", cancelled));
            var after = (await ReadSummaryAsync(c, tx, id, owner, cancellationToken))!.Value.Summary;
            await tx.CommitAsync(cancellationToken);
            return (CancelOutcome.Cancelled, after);
        }, cancellationToken);

    public Task<bool> DeleteAsync(Guid id, string? owner, CancellationToken cancellationToken) =>
        WriteGuardedAsync(async c =>
        {
            await using var tx = c.BeginTransaction(deferred: false);
            var seq = await ScalarAsync(c, tx, "SELECT COALESCE((SELECT seq FROM batches WHERE id = $id AND owner IS $owner), 0);",
                cancellationToken, ("$id", id.ToString()), ("$owner", owner));
            if (seq == 0)
            {
                return false;
            }

            await ExecuteAsync(c, tx, "DELETE FROM slots WHERE batch_seq = $seq; DELETE FROM batches WHERE seq = $seq;", cancellationToken,
                ("$seq", seq));
            await tx.CommitAsync(cancellationToken);
            return true;
        }, cancellationToken);

    public Task<WriteResult> WriteAsync(IReadOnlyList<SlotUpdate> results, IReadOnlyList<(Guid BatchId, DateTimeOffset At)> started,
        DateTimeOffset now, CancellationToken cancellationToken) =>
        ExclusiveAsync(() => WriteCoreAsync(results, started, now, cancellationToken), cancellationToken);

    async Task<WriteResult> WriteCoreAsync(IReadOnlyList<SlotUpdate> results,
        IReadOnlyList<(Guid BatchId, DateTimeOffset At)> started, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        await using var tx = c.BeginTransaction(deferred: false);

        foreach (var (batchId, at) in started)
        {
            await ExecuteAsync(c, tx, "UPDATE batches SET status = 1, started_at = $at WHERE id = $id AND status = 0;",
                cancellationToken, ("$id", batchId.ToString()), ("$at", Ms(at)));
        }

        // Per batch: how many slots moved from pending to each final state.
        var deltas = new Dictionary<Guid, int[]>();
        if (results.Count > 0)
        {
            var doneSeq = await ScalarAsync(c, tx, "SELECT value FROM counters WHERE name = 'done_seq';", cancellationToken);
            await using var update = Command(c, tx,
                "UPDATE slots SET state = $state, attempts = $attempts, duration_ms = $duration, status_code = $status, reason = $reason, " +
                "final_url = $final, redirects = $redirects, content_type = $ctype, content_length = $clen, sha256 = $sha, body = $body, " +
                "error_code = $ecode, error_message = $emsg, done_seq = $done " +
                "WHERE batch_seq = $seq AND idx = $idx AND state = 0;");
            foreach (var name in new[] { "$state", "$attempts", "$duration", "$status", "$reason", "$final", "$redirects", "$ctype", "$clen",
                         "$sha", "$body", "$ecode", "$emsg", "$done", "$seq", "$idx" })
            {
                update.Parameters.Add(new SqliteParameter { ParameterName = name });
            }

            update.Prepare();
            // A group holds results of few batches: look each one's key up once, not once per row.
            var seqs = new Dictionary<Guid, long>();
            foreach (var (batchId, slot) in results)
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
        }

        foreach (var (batchId, d) in deltas)
        {
            await ExecuteAsync(c, tx,
                "UPDATE batches SET pending = pending - $moved, fetched = fetched + $f, failed = failed + $x, cancelled = cancelled + $c " +
                "WHERE id = $id;",
                cancellationToken, ("$id", batchId.ToString()), ("$moved", d[1] + d[2] + d[3]), ("$f", d[1]), ("$x", d[2]), ("$c", d[3]));
        }

        var touched = deltas.Keys.Union(started.Select(s => s.BatchId)).ToList();
        var completed = new List<Guid>();
        foreach (var batchId in touched)
        {
            var ended = await ExecuteAsync(c, tx,
                "UPDATE batches SET status = 2, completed_at = $now, started_at = COALESCE(started_at, $now), " +
                "callback_next_at = CASE WHEN callback_state = 1 THEN $now ELSE callback_next_at END " +
                "WHERE id = $id AND status IN (0, 1) AND pending = 0;",
                cancellationToken, ("$id", batchId.ToString()), ("$now", Ms(now)));
            if (ended == 1)
            {
                completed.Add(batchId);
            }
        }

        await tx.CommitAsync(cancellationToken);
        return new WriteResult(touched, completed);
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

    public async Task<IReadOnlyList<DueCallback>> GetDueCallbacksAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        await using var command = Command(c, null,
            "SELECT id, callback_url, callback_secret, callback_attempts, completed_at, owner FROM batches " +
            "WHERE callback_state = 1 AND status IN (2, 3) AND COALESCE(callback_next_at, completed_at) <= $now " +
            "ORDER BY callback_next_at LIMIT $limit;",
            ("$now", Ms(now)), ("$limit", limit));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var list = new List<DueCallback>();
        while (await reader.ReadAsync(cancellationToken))
        {
            list.Add(new DueCallback(Guid.Parse(reader.GetString(0)), reader.IsDBNull(5) ? null : reader.GetString(5),
                new Callback(reader.GetString(1), reader.GetString(2)),
                reader.GetInt32(3), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4))));
        }

        return list;
    }

    public Task RecordCallbackAsync(Guid id, CallbackState state, int attempts, DateTimeOffset? nextAttemptAt,
        CancellationToken cancellationToken) =>
        ExclusiveAsync(() => RecordCallbackCoreAsync(id, state, attempts, nextAttemptAt, cancellationToken), cancellationToken);

    async Task<bool> RecordCallbackCoreAsync(Guid id, CallbackState state, int attempts, DateTimeOffset? nextAttemptAt,
        CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        await ExecuteAsync(c, null,
            "UPDATE batches SET callback_state = $state, callback_attempts = $attempts, callback_next_at = $next WHERE id = $id;",
            cancellationToken, ("$id", id.ToString()), ("$state", (int)state), ("$attempts", attempts),
            ("$next", nextAttemptAt is { } next ? Ms(next) : null));
        return true;
    }

    public Task<int> DeleteEndedBeforeAsync(DateTimeOffset endedBefore, int limit, CancellationToken cancellationToken) =>
        ExclusiveAsync(() => DeleteEndedBeforeCoreAsync(endedBefore, limit, cancellationToken), cancellationToken);

    async Task<int> DeleteEndedBeforeCoreAsync(DateTimeOffset endedBefore, int limit, CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        await using var tx = c.BeginTransaction(deferred: false);
        await using var select = Command(c, tx,
            "SELECT seq FROM batches WHERE status IN (2, 3) AND completed_at < $t AND callback_state <> 1 LIMIT $limit;",
            ("$t", Ms(endedBefore)), ("$limit", limit));
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

        await ExecuteAsync(c, tx, "DELETE FROM idempotency WHERE expires_at < $now;", cancellationToken,
            ("$now", Ms(DateTimeOffset.UtcNow)));
        await tx.CommitAsync(cancellationToken);
        return seqs.Count;
    }

    public Task CheckAsync(CancellationToken cancellationToken) => ExclusiveAsync(() => CheckCoreAsync(cancellationToken), cancellationToken);

    async Task<bool> CheckCoreAsync(CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        await using var tx = c.BeginTransaction(deferred: false);
        await ExecuteAsync(c, tx, "INSERT OR REPLACE INTO health (id, checked_at) VALUES (1, $now);", cancellationToken,
            ("$now", Ms(DateTimeOffset.UtcNow)));
        await tx.CommitAsync(cancellationToken);
        return true;
    }

    public void Dispose() => _writes.Dispose();
}
