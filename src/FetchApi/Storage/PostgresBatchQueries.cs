using System.Data;
using FetchApi.Batches;
using FetchApi.Model;
using NpgsqlTypes;
using static FetchApi.Storage.PostgresDatabase;
using static FetchApi.Storage.PostgresRows;
using static FetchApi.Storage.StoreRows;

namespace FetchApi.Storage;

/// <summary>Reads batches and their slots from the shared PostgreSQL database; each read is one snapshot.</summary>
public sealed class PostgresBatchQueries(PostgresDatabase db) : IBatchQueries
{
    public Task<BatchSummary?> GetSummaryAsync(Guid id, string? owner, CancellationToken cancellationToken) =>
        db.RunAsync(async c => (await ReadSummaryAsync(c, null, id, owner, forUpdate: false, cancellationToken))?.Summary, cancellationToken);

    public Task<BatchPage?> GetPageAsync(Guid id, string? owner, SlotState? state, int after, int limit, CancellationToken cancellationToken) =>
        db.RunAsync(async c =>
        {
            // One snapshot: the counts and the slots agree even while other nodes write.
            await using var tx = await c.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
            if (await ReadSummaryAsync(c, tx, id, owner, forUpdate: false, cancellationToken) is not var (seq, summary))
            {
                return null;
            }

            var slots = new List<SlotResult>(Math.Min(limit + 1, summary.Counts.Total));
            await using (var command = Command(c, tx,
                $"SELECT {SlotColumns} FROM slots WHERE batch_seq = @seq AND idx > @after {(state is null ? "" : "AND state = @state")} " +
                "ORDER BY idx LIMIT @limit;",
                Number("seq", seq), P("state", (short?)state, NpgsqlDbType.Smallint), Number("limit", limit + 1), Number("after", after)))
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    slots.Add(Slot(reader));
                }
            }

            await tx.CommitAsync(cancellationToken);
            // One row more than asked says whether another page follows.
            var more = slots.Count > limit;
            return new BatchPage(summary, more ? slots[..limit] : slots, more);
        }, cancellationToken);

    public Task<FinalSlots?> GetFinalSlotsAsync(Guid id, string? owner, long afterSequence, int limit, CancellationToken cancellationToken) =>
        db.RunAsync(async c =>
        {
            await using var tx = await c.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
            if (await ReadSummaryAsync(c, tx, id, owner, forUpdate: false, cancellationToken) is not var (seq, summary))
            {
                return null;
            }

            var slots = new List<FinalSlot>();
            await using (var command = Command(c, tx,
                $"SELECT {SlotColumns} FROM slots WHERE batch_seq = @seq AND done_seq > @after ORDER BY done_seq LIMIT @limit;",
                Number("seq", seq), Number("after", afterSequence), Number("limit", limit)))
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    slots.Add(new FinalSlot(reader.GetInt64(StoreRows.DoneSeqColumn), Slot(reader)));
                }
            }

            await tx.CommitAsync(cancellationToken);
            return new FinalSlots(summary, slots);
        }, cancellationToken);

    public Task<SummaryPage> ListAsync(string? owner, BatchStatus? status, int limit, long? cursor, CancellationToken cancellationToken) =>
        db.RunAsync(async c =>
        {
            await using var command = Command(c, null,
                $"SELECT {SummaryColumns} FROM batches b WHERE b.owner IS NOT DISTINCT FROM @owner AND b.seq < @before " +
                $"{(status is null ? "" : "AND b.status = @status")} ORDER BY b.seq DESC LIMIT @limit;",
                Text("owner", owner), Number("before", cursor ?? long.MaxValue), P("status", (short?)status, NpgsqlDbType.Smallint),
                Number("limit", limit + 1));
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
