using System.Text.Json;
using FetchApi.Engine;
using FetchApi.Model;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using static FetchApi.Storage.PostgresDatabase;
using static FetchApi.Storage.StoreRows;

namespace FetchApi.Storage;

/// <summary>
/// Work claiming for several nodes. A claim is one short transaction under a cluster-wide advisory lock (claims of all
/// nodes take turns; fetches and result writes do not wait for it): it counts the live leases per batch and per host
/// (the fetches in flight across the cluster), reads the first unleased pending slots of the batches with room, picks
/// fairly (batches with the fewest fetches in flight first, then round-robin) under each batch's concurrency, the
/// per-host limit and the hosts' Retry-After holds, and leases what it picked to this node. Three round trips per
/// claim, whatever the number of slots claimed.
/// </summary>
public sealed class PostgresWorkClaims(PostgresDatabase db, IOptions<EngineOptions> options) : IWorkClaims, IWorkSource
{
    readonly EngineOptions _options = options.Value;

    /// <summary>Most unfinished batches looked at in one claim.</summary>
    const int MaxBatchesPerClaim = 256;

    sealed record Candidate(long Seq, int Index, string Url, string Host, bool Expired);

    /// <summary>
    /// A batch with room: its <c>concurrency</c> minus the fetches in flight across the cluster, and at most this node's
    /// share (the concurrency divided among the live nodes, rounded up) minus its own, so that every node takes part.
    /// </summary>
    sealed class ActiveBatch(long seq, Guid id, FetchOptions options, int live, int mine, int nodes)
    {
        int _live = live;
        int _mine = mine;

        public long Seq { get; } = seq;
        public Guid Id { get; } = id;
        public FetchOptions Options { get; } = options;
        public int Live => _live;
        public int Room => Math.Max(0, Math.Min(Options.Concurrency - _live, ((Options.Concurrency + nodes - 1) / nodes) - _mine));
        public Queue<Candidate> Candidates { get; } = new();
        public List<PendingSlot> Claimed { get; } = [];

        /// <summary>Fetches of this node that finished (results not committed yet) are not in flight any more.</summary>
        public void Release(int finished)
        {
            finished = Math.Min(finished, _mine);
            _live -= finished;
            _mine -= finished;
        }

        /// <summary>A slot claimed now is in flight.</summary>
        public void Take(Candidate candidate)
        {
            Claimed.Add(new PendingSlot(candidate.Index, candidate.Url));
            _live++;
            _mine++;
        }
    }

    public Task<Claim> ClaimAsync(int capacity, DateTimeOffset now, Func<Unwritten> unwritten, CancellationToken cancellationToken) =>
        db.InTransactionAsync(async (c, tx) =>
        {
            var nowMs = Ms(now);
            // Round trip 1: the lock, what is in flight (live leases) per batch and host, held hosts, active batches.
            var liveByBatch = new Dictionary<long, int>();
            var mineByBatch = new Dictionary<long, int>();
            var nodes = 1;
            var liveByHost = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            var held = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            var batches = new List<ActiveBatch>();
            long backlog;
            await using (var batch = new NpgsqlBatch(c, tx))
            {
                batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT pg_advisory_xact_lock(@key);") { Parameters = { Number("key", ClaimLock) } });
                batch.BatchCommands.Add(new NpgsqlBatchCommand(
                    "SELECT batch_seq, host, count(*)::int, (count(*) FILTER (WHERE lease_owner = @node))::int FROM slots " +
                    $"WHERE state = {Pending} AND lease_owner IS NOT NULL AND lease_until > @now GROUP BY batch_seq, host;")
                    { Parameters = { Number("now", nowMs), Text("node", db.NodeId) } });
                batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT count(*)::int FROM nodes WHERE seen_at > @since OR node = @node;")
                    { Parameters = { Number("since", nowMs - (long)db.LeaseDuration.TotalMilliseconds), Text("node", db.NodeId) } });
                batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT host FROM host_holds WHERE not_before > @now;")
                    { Parameters = { Number("now", nowMs) } });
                batch.BatchCommands.Add(new NpgsqlBatchCommand(
                    $"SELECT seq, id, options FROM batches WHERE status IN ({Queued}, {Running}) ORDER BY seq LIMIT {MaxBatchesPerClaim};"));
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"SELECT COALESCE(SUM(pending), 0)::bigint FROM batches WHERE status IN ({Queued}, {Running});"));
                await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
                await reader.NextResultAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    var (seq, host, count, mine) = (reader.GetInt64(0), reader.GetString(1), reader.GetInt32(2), reader.GetInt32(3));
                    liveByBatch[seq] = liveByBatch.GetValueOrDefault(seq) + count;
                    mineByBatch[seq] = mineByBatch.GetValueOrDefault(seq) + mine;
                    liveByHost[host] = liveByHost.GetValueOrDefault(host) + count;
                }

                await reader.NextResultAsync(cancellationToken);
                await reader.ReadAsync(cancellationToken);
                nodes = Math.Max(1, reader.GetInt32(0));

                await reader.NextResultAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    held.Add(reader.GetString(0));
                }

                await reader.NextResultAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    var seq = reader.GetInt64(0);
                    batches.Add(new ActiveBatch(seq, reader.GetGuid(1), JsonSerializer.Deserialize<FetchOptions>(reader.GetString(2), Json)!,
                        liveByBatch.GetValueOrDefault(seq), mineByBatch.GetValueOrDefault(seq), nodes));
                }

                await reader.NextResultAsync(cancellationToken);
                await reader.ReadAsync(cancellationToken);
                backlog = reader.GetInt64(0);
            }

            // Asked now, after the count: a fetch still unwritten now was unwritten, and so counted, then. Finished
            // fetches hold no request open: they do not count against the limits, though their rows are still leased.
            var done = unwritten();
            foreach (var (host, count) in done.ByHost)
            {
                liveByHost[host] = Math.Max(0, liveByHost.GetValueOrDefault(host) - count);
            }

            foreach (var batch in batches)
            {
                batch.Release(done.ByBatch.GetValueOrDefault(batch.Id));
            }

            // Fewest fetches in flight first: across nodes, a small batch is served before a big one takes another slot.
            var open = batches.Where(b => b.Room > 0).OrderBy(b => b.Live).ThenBy(b => b.Seq).ToList();
            if (open.Count == 0)
            {
                return new Claim([], backlog, 0);
            }

            // Round trip 2: the first unleased pending slots of each batch with room (a few more than it may start, so
            // that a host at its limit does not stall the batch).
            await using (var command = Command(c, tx,
                "SELECT a.seq, s.idx, s.url, s.host, s.lease_owner IS NOT NULL FROM unnest(@seqs, @limits) AS a(seq, lim) " +
                "CROSS JOIN LATERAL (SELECT idx, url, host, lease_owner FROM slots " +
                $"  WHERE batch_seq = a.seq AND state = {Pending} AND (lease_until IS NULL OR lease_until <= @now) ORDER BY idx LIMIT a.lim) s;",
                P("seqs", open.Select(b => b.Seq).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Bigint),
                P("limits", open.Select(b => Math.Min(b.Room, capacity) * 4 + 16).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Integer),
                Number("now", nowMs)))
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            {
                var bySeq = open.ToDictionary(b => b.Seq);
                while (await reader.ReadAsync(cancellationToken))
                {
                    bySeq[reader.GetInt64(0)].Candidates.Enqueue(
                        new Candidate(reader.GetInt64(0), reader.GetInt32(1), reader.GetString(2), reader.GetString(3), reader.GetBoolean(4)));
                }
            }

            var takenOver = Pick(open, capacity, liveByHost, held);
            var claimed = open.Where(b => b.Claimed.Count > 0).ToList();
            if (claimed.Count == 0)
            {
                return new Claim([], backlog, 0);
            }

            // Round trip 3 (with the commit): lease what was picked to this node.
            await ExecuteAsync(c, tx,
                "UPDATE slots s SET lease_owner = @node, lease_until = @until FROM unnest(@seqs, @idxs) AS p(seq, idx) " +
                "WHERE s.batch_seq = p.seq AND s.idx = p.idx;",
                cancellationToken, Text("node", db.NodeId), Number("until", Ms(now + db.LeaseDuration)),
                P("seqs", claimed.SelectMany(b => b.Claimed.Select(_ => b.Seq)).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Bigint),
                P("idxs", claimed.SelectMany(b => b.Claimed.Select(s => s.Index)).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Integer));
            return new Claim([.. claimed.Select(b => new ClaimedBatch(b.Id, b.Options, b.Claimed))], backlog, takenOver);
        }, cancellationToken);

    /// <summary>Round-robin over the batches, one slot per batch per turn, under each batch's room and each host's.</summary>
    int Pick(List<ActiveBatch> batches, int capacity, Dictionary<string, int> liveByHost, HashSet<string> held)
    {
        var takenOver = 0;
        var progress = true;
        while (capacity > 0 && progress)
        {
            progress = false;
            foreach (var batch in batches)
            {
                if (capacity == 0 || batch.Room == 0)
                {
                    continue;
                }

                // The batch's first candidate whose host has room; candidates skipped stay for the next turn.
                var skipped = new List<Candidate>();
                Candidate? chosen = null;
                while (batch.Candidates.TryDequeue(out var candidate))
                {
                    if (!held.Contains(candidate.Host) && liveByHost.GetValueOrDefault(candidate.Host) < _options.PerHostConcurrency)
                    {
                        chosen = candidate;
                        break;
                    }

                    skipped.Add(candidate);
                }

                foreach (var candidate in skipped)
                {
                    batch.Candidates.Enqueue(candidate);
                }

                if (chosen is null)
                {
                    continue;
                }

                batch.Take(chosen);
                liveByHost[chosen.Host] = liveByHost.GetValueOrDefault(chosen.Host) + 1;
                takenOver += chosen.Expired ? 1 : 0;
                capacity--;
                progress = true;
            }
        }

        return takenOver;
    }

    /// <summary>Extends this node's leases, and says the node is alive (its share of each batch counts).</summary>
    public Task<int> RenewAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        db.RunAsync(c => ExecuteAsync(c, null,
            "WITH alive AS (INSERT INTO nodes (node, seen_at) VALUES (@node, @now) ON CONFLICT (node) DO UPDATE SET seen_at = EXCLUDED.seen_at) " +
            $"UPDATE slots SET lease_until = @until WHERE lease_owner = @node AND state = {Pending};",
            cancellationToken, Text("node", db.NodeId), Number("now", Ms(now)), Number("until", Ms(now + db.LeaseDuration))), cancellationToken);

    public Task ReleaseAsync(CancellationToken cancellationToken) =>
        db.RunAsync(c => ExecuteAsync(c, null,
            $"UPDATE slots SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = @node AND state = {Pending}; " +
            "DELETE FROM nodes WHERE node = @node;",
            cancellationToken, Text("node", db.NodeId)), cancellationToken);

    public Task HoldHostAsync(string host, DateTimeOffset until, CancellationToken cancellationToken) =>
        db.RunAsync(c => ExecuteAsync(c, null,
            "INSERT INTO host_holds (host, not_before) VALUES (@host, @until) " +
            "ON CONFLICT (host) DO UPDATE SET not_before = GREATEST(host_holds.not_before, EXCLUDED.not_before);",
            cancellationToken, Text("host", host), Number("until", Ms(until))), cancellationToken);

    // Several nodes never read work in windows: unfinished batches and expired leases are claimed like any other work.
    public Task<IReadOnlyList<UnfinishedBatch>> GetUnfinishedAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<UnfinishedBatch>>([]);

    public Task<IReadOnlyList<PendingSlot>> GetPendingAsync(Guid batchId, int afterIndex, int limit, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<PendingSlot>>([]);
}
