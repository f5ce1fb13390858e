using Npgsql;
using static FetchApi.Storage.PostgresDatabase;

namespace FetchApi.Storage;

/// <summary>
/// Which node processes are alive, as PostgreSQL sees them. Each process registers its incarnation in <c>nodes</c> with
/// a fresh <c>lock_key</c> and takes a session advisory lock on that key on its own long-lived connection (the
/// <c>LISTEN</c> connection). PostgreSQL releases the lock the moment that connection ends, and a killed process's
/// connection ends with it: the others see it dead at their next claim, within a second, instead of after a lease. A
/// process restarted under the same id replaces its predecessor's incarnation in the same row, so the predecessor's
/// leases are nobody's at once. A process that is alive but cut off keeps its lock until PostgreSQL's keepalive gives up
/// (the session asks for about 11 s) and stops counting as alive once it has not renewed for
/// <c>Engine:LeaseDuration</c>: the lease stays the bound.
/// </summary>
static class PostgresNodes
{
    /// <summary>The first key of every node's advisory lock (the second is its <c>lock_key</c>): "fetc".</summary>
    public const int LockSpace = 0x66657463;

    /// <summary>
    /// The incarnations alive now: registered, renewed within the lease, and holding their lock in this database; this
    /// process always counts (its claims never take its own leases away). Parameters: <c>@since</c>, <c>@me</c>.
    /// </summary>
    public static readonly string LiveSql =
        "SELECT n.node, n.incarnation FROM nodes n WHERE n.incarnation = @me OR (n.seen_at > @since AND EXISTS (" +
        "  SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 " +
        $"  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND l.classid = {LockSpace}::oid " +
        "  AND l.objid = n.lock_key::oid))";

    /// <summary>
    /// Registers this process on <paramref name="connection"/> (its own, never pooled) and takes its lock there. Asks the
    /// server to probe the connection after 5 s of silence, so that a node cut off from the database loses its lock in
    /// about 11 s rather than the kernel's two hours.
    /// </summary>
    public static async Task RegisterAsync(NpgsqlConnection connection, PostgresDatabase db, DateTimeOffset now, CancellationToken ct)
    {
        await ExecuteAsync(connection, null, "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3;", ct);
        var key = await ScalarAsync(connection, null,
            "INSERT INTO nodes (node, seen_at, incarnation, lock_key) VALUES (@node, @now, @me, nextval('node_locks')) " +
            "ON CONFLICT (node) DO UPDATE SET seen_at = EXCLUDED.seen_at, incarnation = EXCLUDED.incarnation, lock_key = EXCLUDED.lock_key " +
            "RETURNING lock_key;",
            ct, Text("node", db.NodeId), Number("now", Ms(now)), Text("me", db.Incarnation));
        await ExecuteAsync(connection, null, "SELECT pg_advisory_lock(@space, @key);", ct,
            Number("space", LockSpace), Number("key", (int)key));
    }
}
