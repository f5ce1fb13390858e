using System.Text.Json;
using FetchApi.Engine;
using FetchApi.Model;
using static FetchApi.Storage.SqliteDatabase;
using static FetchApi.Storage.StoreRows;

namespace FetchApi.Storage;

#pragma warning disable VSTHRD103 // see SqliteDatabase

/// <summary>What the engine still has to fetch, read from the SQLite file.</summary>
public sealed class SqliteWorkSource(SqliteDatabase db) : IWorkSource
{
    public Task<IReadOnlyList<UnfinishedBatch>> GetUnfinishedAsync(CancellationToken cancellationToken) =>
        db.ReadAsync<IReadOnlyList<UnfinishedBatch>>(async c =>
        {
            await using var command = Command(c, null,
                $"SELECT id, options, pending FROM batches WHERE status IN ({Queued}, {Running}) ORDER BY seq;");
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var list = new List<UnfinishedBatch>();
            while (await reader.ReadAsync(cancellationToken))
            {
                list.Add(new UnfinishedBatch(Guid.Parse(reader.GetString(0)), JsonSerializer.Deserialize<FetchOptions>(reader.GetString(1), Json)!,
                    reader.GetInt32(2)));
            }

            return list;
        }, cancellationToken);

    public Task<IReadOnlyList<PendingSlot>> GetPendingAsync(Guid batchId, int afterIndex, int limit, CancellationToken cancellationToken) =>
        db.ReadAsync<IReadOnlyList<PendingSlot>>(async c =>
        {
            await using var command = Command(c, null,
                $"SELECT idx, url FROM slots WHERE {SqliteSchema.SlotsOf("id = $id", "$after")} " +
                $"AND state = {Pending} ORDER BY slot_id LIMIT $limit;",
                ("$id", batchId.ToString()), ("$after", afterIndex), ("$limit", limit));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var list = new List<PendingSlot>();
            while (await reader.ReadAsync(cancellationToken))
            {
                list.Add(new PendingSlot(reader.GetInt32(0), reader.GetString(1)));
            }

            return list;
        }, cancellationToken);
}
