using System.Text.Json;
using FetchApi.Model;
using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace FetchApi.Storage;

/// <summary>
/// How rows read back, for both providers (the same columns in the same order): the column lists every role selects,
/// the state numbers SQL compares with, and the readers of a summary and of a slot.
/// </summary>
static class StoreRows
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public const int Pending = (int)SlotState.Pending;
    public const int Fetched = (int)SlotState.Fetched;
    public const int Failed = (int)SlotState.Failed;
    public const int Cancelled = (int)SlotState.Cancelled;

    public const int Queued = (int)BatchStatus.Queued;
    public const int Running = (int)BatchStatus.Running;
    public const int Completed = (int)BatchStatus.Completed;
    public const int BatchCancelled = (int)BatchStatus.Cancelled;

    /// <summary>Summary columns of <c>batches b</c>; the first is the batch's key (seq).</summary>
    public const string SummaryColumns =
        "b.seq, b.id, b.status, b.created_at, b.started_at, b.completed_at, b.options, b.total, b.pending, b.fetched, b.failed, b.cancelled";

    public const string SlotColumns =
        "idx, url, state, attempts, duration_ms, status_code, reason, final_url, redirects, content_type, content_length, sha256, body, " +
        "error_code, error_message, done_seq, extracted";

    /// <summary>The column of <see cref="SlotColumns"/> that orders final slots.</summary>
    public const int DoneSeqColumn = 15;

    /// <summary>Reads <see cref="SummaryColumns"/> starting at <paramref name="at"/>. Options are read as clients see them: the stored headers stay behind.</summary>
    public static BatchSummary Summary(DbDataReader r, int at = 0) => new()
    {
        Id = r.GetGuid(at + 1),
        Status = (BatchStatus)r.GetInt32(at + 2),
        CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(at + 3)),
        StartedAt = Time(r, at + 4),
        CompletedAt = Time(r, at + 5),
        Options = JsonSerializer.Deserialize<BatchOptions>(r.GetString(at + 6), Json)!,
        Counts = new BatchCounts(r.GetInt32(at + 7), r.GetInt32(at + 8), r.GetInt32(at + 9), r.GetInt32(at + 10), r.GetInt32(at + 11)),
    };

    public static SlotResult Slot(DbDataReader r) => new()
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
            Extracted = r.IsDBNull(16) ? null : JsonSerializer.Deserialize<Extracted>(r.GetString(16), Json),
        },
        Error = r.IsDBNull(13) ? null : new FetchError((FetchErrorCode)r.GetInt32(13), r.GetString(14)),
    };

    /// <summary>The stored form of <see cref="FetchResponse.Extracted"/>: JSON, or null.</summary>
    public static string? ExtractedJson(SlotResult slot) =>
        slot.Response?.Extracted is { } extracted ? JsonSerializer.Serialize(extracted, Json) : null;

    static DateTimeOffset? Time(DbDataReader r, int i) => r.IsDBNull(i) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(i));

    /// <summary>The summary of one batch of <paramref name="owner"/>, with its key; null when the owner has no such batch.</summary>
    public static async Task<(long Seq, BatchSummary Summary)?> ReadSummaryAsync(SqliteConnection c, SqliteTransaction? tx, Guid id, string? owner,
        CancellationToken ct)
    {
        await using var command = SqliteDatabase.Command(c, tx, $"SELECT {SummaryColumns} FROM batches b WHERE b.id = $id AND b.owner IS $owner;",
            ("$id", id.ToString()), ("$owner", owner));
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? (reader.GetInt64(0), Summary(reader)) : null;
    }
}
