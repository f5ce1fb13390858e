using FetchApi.Batches;
using FetchApi.Model;
using static FetchApi.Storage.SqliteDatabase;
using static FetchApi.Storage.StoreRows;

namespace FetchApi.Storage;

#pragma warning disable VSTHRD103 // see SqliteDatabase

/// <summary>Reads batches and their slots from the SQLite file; each read is one snapshot.</summary>
public sealed class SqliteBatchQueries(SqliteDatabase db) : IBatchQueries
{
    public Task<BatchSummary?> GetSummaryAsync(Guid id, string? owner, CancellationToken cancellationToken) =>
        db.ReadAsync(async c => (await ReadSummaryAsync(c, null, id, owner, cancellationToken))?.Summary, cancellationToken);

    public Task<BatchPage?> GetPageAsync(Guid id, string? owner, SlotState? state, int after, int limit, CancellationToken cancellationToken) =>
        db.ReadAsync(async c =>
        {
            // One read transaction: the counts and the slots come from the same snapshot.
            await using var tx = c.BeginTransaction(deferred: true);
            if (await ReadSummaryAsync(c, tx, id, owner, cancellationToken) is not var (seq, summary))
            {
                return null;
            }

            var slots = new List<SlotResult>(Math.Min(limit + 1, summary.Counts.Total));
            await using var command = Command(c, tx,
                $"SELECT {SlotColumns} FROM slots WHERE {SqliteSchema.SlotsOf("seq = $seq", "$after")} " +
                $"{(state is null ? "" : "AND state = $state")} ORDER BY slot_id LIMIT $limit;",
                ("$seq", seq), ("$state", (int?)state), ("$limit", limit + 1), ("$after", after));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                slots.Add(Slot(reader));
            }

            // One row more than asked says whether another page follows.
            var more = slots.Count > limit;
            return new BatchPage(summary, more ? slots[..limit] : slots, more);
        }, cancellationToken);

    public Task<FinalSlots?> GetFinalSlotsAsync(Guid id, string? owner, long afterSequence, int limit, CancellationToken cancellationToken) =>
        db.ReadAsync(async c =>
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
                slots.Add(new FinalSlot(reader.GetInt64(DoneSeqColumn), Slot(reader)));
            }

            return new FinalSlots(summary, slots);
        }, cancellationToken);

    public Task<SummaryPage> ListAsync(string? owner, BatchStatus? status, int limit, long? cursor, CancellationToken cancellationToken) =>
        db.ReadAsync(async c =>
        {
            await using var command = Command(c, null,
                $"SELECT {SummaryColumns} FROM batches b WHERE b.owner IS $owner AND b.seq < $before " +
                $"{(status is null ? "" : "AND b.status = $status")} ORDER BY b.seq DESC LIMIT $limit;",
                ("$owner", owner), ("$before", cursor ?? long.MaxValue), ("$status", (int?)status), ("$limit", limit + 1));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var list = new List<BatchSummary>();
            long lastSeq = 0;
            while (await reader.ReadAsync(cancellationToken))
            {
                if (list.Count == limit)
                {
                    return new SummaryPage(list, lastSeq);
                }

                lastSeq = reader.GetInt64(0);
                list.Add(Summary(reader));
            }

            return new SummaryPage(list, null);
        }, cancellationToken);
}
