using FetchApi.Model;
using Npgsql;

namespace FetchApi.Storage;

/// <summary>The PostgreSQL form of <see cref="StoreRows.ReadSummaryAsync"/>: owners compared with <c>IS NOT DISTINCT FROM</c>, optionally locking the row.</summary>
static class PostgresRows
{
    /// <summary>The summary of one batch of <paramref name="owner"/>, with its key; null when the owner has no such batch.</summary>
    public static async Task<(long Seq, BatchSummary Summary)?> ReadSummaryAsync(NpgsqlConnection c, NpgsqlTransaction? tx, Guid id, string? owner,
        bool forUpdate, CancellationToken ct)
    {
        await using var command = PostgresDatabase.Command(c, tx,
            $"SELECT {StoreRows.SummaryColumns} FROM batches b WHERE b.id = @id AND b.owner IS NOT DISTINCT FROM @owner{(forUpdate ? " FOR UPDATE" : "")};",
            PostgresDatabase.Uuid("id", id), PostgresDatabase.Text("owner", owner));
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? (reader.GetInt64(0), StoreRows.Summary(reader)) : null;
    }
}
