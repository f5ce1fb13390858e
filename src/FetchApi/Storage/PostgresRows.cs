using System.Text.Json;
using FetchApi.Model;
using Npgsql;

namespace FetchApi.Storage;

/// <summary>How PostgreSQL rows read back: the columns of <see cref="SqliteRows.SummaryColumns"/> and <see cref="SqliteRows.SlotColumns"/>, in that order.</summary>
static class PostgresRows
{
    public static BatchSummary Summary(NpgsqlDataReader r, int at = 0) => new()
    {
        Id = r.GetGuid(at + 1),
        Status = (BatchStatus)r.GetInt16(at + 2),
        CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(at + 3)),
        StartedAt = PostgresDatabase.Time(r, at + 4),
        CompletedAt = PostgresDatabase.Time(r, at + 5),
        Options = JsonSerializer.Deserialize<BatchOptions>(r.GetString(at + 6), SqliteRows.Json)!,
        Counts = new BatchCounts(r.GetInt32(at + 7), r.GetInt32(at + 8), r.GetInt32(at + 9), r.GetInt32(at + 10), r.GetInt32(at + 11)),
    };

    public static SlotResult Slot(NpgsqlDataReader r) => new()
    {
        Index = r.GetInt32(0),
        Url = r.GetString(1),
        State = (SlotState)r.GetInt16(2),
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
        Error = r.IsDBNull(13) ? null : new FetchError((FetchErrorCode)r.GetInt16(13), r.GetString(14)),
    };

    /// <summary>The summary of one batch of <paramref name="owner"/>, with its key; null when the owner has no such batch.</summary>
    public static async Task<(long Seq, BatchSummary Summary)?> ReadSummaryAsync(NpgsqlConnection c, NpgsqlTransaction? tx, Guid id, string? owner,
        bool forUpdate, CancellationToken ct)
    {
        await using var command = PostgresDatabase.Command(c, tx,
            $"SELECT {SqliteRows.SummaryColumns} FROM batches b WHERE b.id = @id AND b.owner IS NOT DISTINCT FROM @owner{(forUpdate ? " FOR UPDATE" : "")};",
            PostgresDatabase.Uuid("id", id), PostgresDatabase.Text("owner", owner));
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? (reader.GetInt64(0), Summary(reader)) : null;
    }
}
