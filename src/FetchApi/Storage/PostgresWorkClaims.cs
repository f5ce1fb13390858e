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
/// nodes take turns; fetches and result writes do not wait for it): it takes over the leases of incarnations that died
/// or stopped renewing (<see cref="PostgresNodes"/>), counts the leases left per batch and per host (the fetches in
/// flight across the cluster), reads the first unleased pending slots of the batches with room, only on the hosts this
/// node owns (<see cref="HostOwnership"/>) and not on hosts at their limit or held, picks fairly (batches with the
/// fewest fetches in flight first, then round-robin) under each batch's concurrency and the per-host limit, and leases
/// what it picked to this incarnation in the <c>leases</c> table. A slot's own row is written once, by its result.
/// Three round trips per claim, whatever the number of slots claimed.
/// </summary>
public sealed class PostgresWorkClaims(PostgresDatabase db, IOptions<EngineOptions> options) : IWorkClaims, IWorkSource
{
    readonly EngineOptions _options = options.Value;

    /// <summary>
    /// How often a claim looks at which nodes are alive (and takes over the leases of the dead): reading
    /// <c>pg_locks</c> cost about a millisecond of server time, and a busy node claims every few milliseconds.
    /// </summary>
    static readonly TimeSpan LivenessInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>How long a recorded slow-down is handed to a host's next owner (the longest spacing, twice).</summary>
    static readonly TimeSpan SlowDownMemory = TimeSpan.FromSeconds(60);


    List<string> _live = [];
    // Per batch (sequence): the index below which every slot was final or leased at this node's last claim.
    readonly Dictionary<long, int> _from = [];
    DateTimeOffset _liveAt = DateTimeOffset.MinValue;
    long _liveTicks;

    /// <summary>Most unfinished batches with room looked at in one claim.</summary>
    const int MaxBatchesPerClaim = 256;

    sealed record Candidate(long Seq, int Index, string Url, string Host);

    /// <summary>A batch with room: its <c>concurrency</c> minus the fetches in flight across the cluster.</summary>
    sealed class ActiveBatch(long seq, Guid id, FetchOptions options, int live)
    {
        public long Seq { get; } = seq;
        public Guid Id { get; } = id;
        public FetchOptions Options { get; } = options;
        public int Live { get; private set; } = live;
        public int Room => Math.Max(0, Options.Concurrency - Live);
        public Queue<Candidate> Candidates { get; } = new();
        public List<Candidate> Claimed { get; } = [];

        /// <summary>A slot claimed now is in flight.</summary>
        public void Take(Candidate candidate)
        {
            Claimed.Add(candidate);
            Live++;
        }
    }

    /// <summary>
    /// This node's finished fetches (<c>done</c>: batch sequence and index) and the condition under which a lease counts
    /// as a fetch in flight: any lease but those. Parameters: <c>@me</c>, <c>@doneIds</c>, <c>@doneIdx</c>.
    /// </summary>
    const string DoneSql = "done AS (SELECT b.seq, f.idx FROM unnest(@doneIds, @doneIdx) AS f(id, idx) JOIN batches b ON b.id = f.id)";

    /// <summary>A slot <c>s</c> that no lease holds.</summary>
    const string Unleased = "NOT EXISTS (SELECT 1 FROM leases l WHERE l.batch_seq = s.batch_seq AND l.idx = s.idx)";

    const string Counted = "NOT (l.owner = @me AND (l.batch_seq, l.idx) IN (SELECT seq, idx FROM done))";

    public async Task<Claim> ClaimAsync(int capacity, DateTimeOffset now, Func<Unwritten> unwritten, CancellationToken cancellationToken)
    {
        return await ClaimInTransactionAsync(capacity, now, unwritten, cancellationToken);
    }

    Task<Claim> ClaimInTransactionAsync(int capacity, DateTimeOffset now, Func<Unwritten> unwritten, CancellationToken cancellationToken) =>
        db.InTransactionAsync(async (c, tx) =>
        {
            // Finished here, maybe not committed: their leases hold no request open. Named slot by slot, so a lease the
            // writer's commit removed meanwhile is simply not there to subtract.
            var done = unwritten();
            NpgsqlParameter DoneIds() => P("doneIds", done.BatchIds, NpgsqlDbType.Array | NpgsqlDbType.Uuid);
            NpgsqlParameter DoneIndexes() => P("doneIdx", done.Indexes, NpgsqlDbType.Array | NpgsqlDbType.Integer);
            var nowMs = Ms(now);
            // Round trip 1: the lock, the live nodes and the leases of dead ones taken over, what is in flight (leases)
            // per batch and host, held hosts, active batches.
            var liveByBatch = new Dictionary<long, int>();
            var nodes = new List<string>();
            var takenOver = 0;
            var liveByHost = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            var held = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            var slowDowns = new List<HostSlowDown>();
            var batches = new List<ActiveBatch>();
            long backlog;
            await using (var batch = new NpgsqlBatch(c, tx))
            {
                var since = Number("since", nowMs - (long)db.LeaseDuration.TotalMilliseconds);
                batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT pg_advisory_xact_lock(@key);") { Parameters = { Number("key", ClaimLock) } });
                // Checked on the clock the caller passes (tests move it) and on the machine's (it always moves).
                var checkLiveness = now - _liveAt >= LivenessInterval || Environment.TickCount64 - _liveTicks >= LivenessInterval.TotalMilliseconds;
                if (checkLiveness)
                {
                    batch.BatchCommands.Add(new NpgsqlBatchCommand(
                        $"WITH live AS MATERIALIZED ({PostgresNodes.LiveSql}), " +
                        "gone AS (DELETE FROM leases WHERE until <= @now OR owner NOT IN (SELECT incarnation FROM live) RETURNING 1) " +
                        "SELECT node, (SELECT count(*) FROM gone)::int FROM live;")
                        { Parameters = { since, Number("now", nowMs), Text("me", db.Incarnation) } });
                }

                // A lease counts unless it is one of this node's finished fetches (they hold no request open).
                batch.BatchCommands.Add(new NpgsqlBatchCommand(
                    $"WITH {DoneSql} SELECT batch_seq, host, count(*)::int FROM leases l " +
                    $"WHERE {Counted} GROUP BY batch_seq, host;")
                    { Parameters = { Text("me", db.Incarnation), DoneIds(), DoneIndexes() } });
                batch.BatchCommands.Add(new NpgsqlBatchCommand(
                    "SELECT host, not_before > @now, slow_down_ms, slowed_at FROM host_holds " +
                    "WHERE not_before > @now OR (slowed_by <> @node AND slowed_at > @recent AND slow_down_ms > 0);")
                    { Parameters = { Number("now", nowMs), Text("node", db.NodeId), Number("recent", nowMs - (long)SlowDownMemory.TotalMilliseconds) } });
                batch.BatchCommands.Add(new NpgsqlBatchCommand(
                    // Only batches with room, so that 256 full ones first in line never hide the rest.
                    $"WITH {DoneSql}, live AS (SELECT batch_seq, count(*) AS n FROM leases l WHERE {Counted} GROUP BY batch_seq) " +
                    $"SELECT seq, id, options FROM batches b LEFT JOIN live ON live.batch_seq = b.seq WHERE status IN ({Queued}, {Running}) " +
                    $"AND COALESCE(live.n, 0) < (b.options::jsonb ->> 'concurrency')::int ORDER BY seq LIMIT {MaxBatchesPerClaim};")
                    { Parameters = { Text("me", db.Incarnation), DoneIds(), DoneIndexes() } });
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"SELECT COALESCE(SUM(pending), 0)::bigint FROM batches WHERE status IN ({Queued}, {Running});"));
                await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
                await reader.NextResultAsync(cancellationToken);
                if (checkLiveness)
                {
                    while (await reader.ReadAsync(cancellationToken))
                    {
                        nodes.Add(reader.GetString(0));
                        takenOver = reader.GetInt32(1);
                    }

                    if (takenOver > 0 || !nodes.Order(StringComparer.Ordinal).SequenceEqual(_live.Order(StringComparer.Ordinal), StringComparer.Ordinal))
                    {
                        // Slots below a cursor may be free again (leases taken over) or this node's now (hosts moved).
                        _from.Clear();
                    }

                    (_live, _liveAt, _liveTicks) = (nodes, now, Environment.TickCount64);
                    await reader.NextResultAsync(cancellationToken);
                }
                else
                {
                    nodes = _live;
                }

                while (await reader.ReadAsync(cancellationToken))
                {
                    var (seq, host, count) = (reader.GetInt64(0), reader.GetString(1), reader.GetInt32(2));
                    liveByBatch[seq] = liveByBatch.GetValueOrDefault(seq) + count;
                    liveByHost[host] = liveByHost.GetValueOrDefault(host) + count;
                }

                await reader.NextResultAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    if (reader.GetBoolean(1))
                    {
                        held.Add(reader.GetString(0));
                    }

                    if (!await reader.IsDBNullAsync(3, cancellationToken) && reader.GetInt64(2) > 0)
                    {
                        slowDowns.Add(new HostSlowDown(reader.GetString(0), TimeSpan.FromMilliseconds(reader.GetInt64(2)),
                            DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3))));
                    }
                }

                await reader.NextResultAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    var seq = reader.GetInt64(0);
                    batches.Add(new ActiveBatch(seq, reader.GetGuid(1), JsonSerializer.Deserialize<FetchOptions>(reader.GetString(2), Json)!,
                        liveByBatch.GetValueOrDefault(seq)));
                }

                await reader.NextResultAsync(cancellationToken);
                await reader.ReadAsync(cancellationToken);
                backlog = reader.GetInt64(0);
            }

            if (_from.Count > 4 * MaxBatchesPerClaim)
            {
                // Cursors of batches that ended (or wait without room: they start from the beginning once, no harm).
                var active = batches.Select(b => b.Seq).ToHashSet();
                foreach (var seq in _from.Keys.Where(k => !active.Contains(k)).ToList())
                {
                    _from.Remove(seq);
                }
            }

            // Fewest fetches in flight first: across nodes, a small batch is served before a big one takes another slot.
            var open = batches.Where(b => b.Room > 0).OrderBy(b => b.Live).ThenBy(b => b.Seq).ToList();
            if (open.Count == 0)
            {
                return new Claim([], backlog, takenOver, slowDowns);
            }

            // Round trip 2: the first unleased pending slots of each batch with room, on hosts this node owns that have
            // room and are not held (so a host at its limit never holds back the batch's other hosts), a few more than
            // the batch may start.
            var owned = HostOwnership.Owned(nodes, db.NodeId);
            var closed = held.Union(liveByHost.Where(h => h.Value >= _options.PerHostConcurrency).Select(h => h.Key)).ToArray();
            // Each batch is read from its cursor: below it every slot was final or leased when this node last looked, so
            // the scan does not walk the batch's finished slots again (their stale index entries made a claim cost grow
            // with the batch's progress). The same round trip moves the cursor to the first unleased pending slot.
            var seqs = open.Select(b => b.Seq).ToArray();
            var from = open.Select(b => _from.GetValueOrDefault(b.Seq)).ToArray();
            await using (var candidates = new NpgsqlBatch(c, tx))
            {
                candidates.BatchCommands.Add(new NpgsqlBatchCommand(
                    "SELECT a.seq, s.idx, s.url, s.host FROM unnest(@seqs, @from, @limits) AS a(seq, lo, lim) " +
                    "CROSS JOIN LATERAL (SELECT idx, url, host FROM slots s " +
                    $"  WHERE s.batch_seq = a.seq AND s.idx >= a.lo AND s.state = {Pending} " +
                    $"   AND {Unleased} " +
                    (owned is null ? "" : $"   AND get_bit(@owned, hashtext(s.host) & {HostOwnership.Buckets - 1}) = 1 ") +
                    (closed.Length == 0 ? "" : "   AND s.host <> ALL(@closed) ") +
                    "  ORDER BY idx LIMIT a.lim) s;")
                {
                    Parameters =
                    {
                        P("seqs", seqs, NpgsqlDbType.Array | NpgsqlDbType.Bigint),
                        P("from", from, NpgsqlDbType.Array | NpgsqlDbType.Integer),
                        // Twice what the batch may start, and a few: hosts at their limit are left out in SQL already.
                        P("limits", open.Select(b => Math.Min(b.Room, capacity) * 2 + 16).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Integer),
                        P("owned", owned, NpgsqlDbType.Bytea),
                        P("closed", closed, NpgsqlDbType.Array | NpgsqlDbType.Text),
                    },
                });
                candidates.BatchCommands.Add(new NpgsqlBatchCommand(
                    // ORDER BY … LIMIT 1, not min(): the planner walks the pending index for the first, but seq-scanned for min().
                    "SELECT a.seq, (SELECT s.idx FROM slots s WHERE s.batch_seq = a.seq AND s.idx >= a.lo AND s.state = " + Pending +
                    $"  AND {Unleased} ORDER BY s.idx LIMIT 1) " +
                    "FROM unnest(@seqs, @from) AS a(seq, lo);")
                {
                    Parameters = { P("seqs", seqs, NpgsqlDbType.Array | NpgsqlDbType.Bigint), P("from", from, NpgsqlDbType.Array | NpgsqlDbType.Integer) },
                });
                await using var reader = await candidates.ExecuteReaderAsync(cancellationToken);
                var bySeq = open.ToDictionary(b => b.Seq);
                while (await reader.ReadAsync(cancellationToken))
                {
                    bySeq[reader.GetInt64(0)].Candidates.Enqueue(
                        new Candidate(reader.GetInt64(0), reader.GetInt32(1), reader.GetString(2), reader.GetString(3)));
                }

                await reader.NextResultAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    if (!await reader.IsDBNullAsync(1, cancellationToken))
                    {
                        _from[reader.GetInt64(0)] = reader.GetInt32(1);
                    }
                }
            }

            Pick(open, capacity, liveByHost, held);
            var claimed = open.Where(b => b.Claimed.Count > 0).ToList();
            if (claimed.Count == 0)
            {
                return new Claim([], backlog, takenOver, slowDowns);
            }

            // Round trip 3 (with the commit): lease what was picked to this incarnation.
            var picked = claimed.SelectMany(b => b.Claimed).ToList();
            await ExecuteAsync(c, tx,
                "INSERT INTO leases (batch_seq, idx, host, owner, until) SELECT p.seq, p.idx, p.host, @me, @until " +
                "FROM unnest(@seqs, @idxs, @hosts) AS p(seq, idx, host);",
                cancellationToken, Text("me", db.Incarnation), Number("until", Ms(now + db.LeaseDuration)),
                P("seqs", picked.Select(p => p.Seq).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Bigint),
                P("idxs", picked.Select(p => p.Index).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Integer),
                P("hosts", picked.Select(p => p.Host).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text));
            return new Claim([.. claimed.Select(b => new ClaimedBatch(b.Id, b.Options, [.. b.Claimed.Select(p => new PendingSlot(p.Index, p.Url))]))],
                backlog, takenOver, slowDowns);
        }, cancellationToken);

    /// <summary>Round-robin over the batches, one slot per batch per turn, under each batch's room and each host's.</summary>
    void Pick(List<ActiveBatch> batches, int capacity, Dictionary<string, int> liveByHost, HashSet<string> held)
    {
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
                capacity--;
                progress = true;
            }
        }
    }

    /// <summary>Extends this incarnation's leases, and says it is alive.</summary>
    public Task<int> RenewAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        db.RunAsync(c => ExecuteAsync(c, null,
            "WITH alive AS (UPDATE nodes SET seen_at = @now WHERE node = @node AND incarnation = @me) " +
            "UPDATE leases SET until = @until WHERE owner = @me;",
            cancellationToken, Text("node", db.NodeId), Text("me", db.Incarnation), Number("now", Ms(now)),
            Number("until", Ms(now + db.LeaseDuration))), cancellationToken);

    public Task ReleaseAsync(CancellationToken cancellationToken) =>
        db.RunAsync(c => ExecuteAsync(c, null,
            "DELETE FROM leases WHERE owner = @me; DELETE FROM nodes WHERE node = @node AND incarnation = @me;",
            cancellationToken, Text("node", db.NodeId), Text("me", db.Incarnation)), cancellationToken);

    public Task RecordSlowDownsAsync(IReadOnlyList<HostSlowDown> slowed, CancellationToken cancellationToken) =>
        db.RunAsync(c => ExecuteAsync(c, null,
            "INSERT INTO host_holds (host, not_before, slow_down_ms, slowed_at, slowed_by) " +
            "SELECT h.host, 0, h.ms, h.at, @node FROM unnest(@hosts, @ms, @at) AS h(host, ms, at) " +
            "ON CONFLICT (host) DO UPDATE SET slow_down_ms = EXCLUDED.slow_down_ms, slowed_at = EXCLUDED.slowed_at, slowed_by = EXCLUDED.slowed_by;",
            cancellationToken, Text("node", db.NodeId),
            P("hosts", slowed.Select(s => s.Host).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text),
            P("ms", slowed.Select(s => (long)s.SlowDown.TotalMilliseconds).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Bigint),
            P("at", slowed.Select(s => Ms(s.At)).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Bigint)), cancellationToken);

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
