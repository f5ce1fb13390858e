using static FetchApi.Storage.PostgresDatabase;

namespace FetchApi.Storage;

/// <summary>The PostgreSQL database's schema (migrated by one node at a time), health check, notifications and close.</summary>
public sealed class PostgresStore(PostgresDatabase db, PostgresNotifications notifications, TimeProvider time) : IStore
{
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await db.RunAsync(async c =>
        {
            // Nodes starting together against an empty database: one migrates, the others wait here and find nothing to do.
            await ExecuteAsync(c, null, "SELECT pg_advisory_lock(@key);", cancellationToken, Number("key", MigrationLock));
            try
            {
                await ExecuteAsync(c, null, "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL);", cancellationToken);
                var current = (int)await ScalarAsync(c, null, "SELECT COALESCE(MAX(version), 0) FROM schema_version;", cancellationToken);
                if (current > PostgresSchema.Version)
                {
                    throw new InvalidOperationException(
                        $"The database has schema version {current}, newer than this build's {PostgresSchema.Version}. Use a newer build or another database.");
                }

                if (current < PostgresSchema.Version)
                {
                    await using var tx = await c.BeginTransactionAsync(cancellationToken);
                    for (var step = current; step < PostgresSchema.Version; step++)
                    {
                        await ExecuteAsync(c, tx, PostgresSchema.Steps[step], cancellationToken);
                    }

                    await ExecuteAsync(c, tx, "DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES (@v);", cancellationToken,
                        Number("v", PostgresSchema.Version));
                    await tx.CommitAsync(cancellationToken);
                }
            }
            finally
            {
                await ExecuteAsync(c, null, "SELECT pg_advisory_unlock(@key);", CancellationToken.None, Number("key", MigrationLock));
            }

            return true;
        }, cancellationToken);
        // Listening, and alive for the other nodes from now on (PostgresNodes).
        await notifications.StartAsync(cancellationToken);
    }

    public Task CheckAsync(CancellationToken cancellationToken) =>
        db.RunAsync(c => ExecuteAsync(c, null,
            "INSERT INTO health (node, checked_at) VALUES (@node, @now) ON CONFLICT (node) DO UPDATE SET checked_at = EXCLUDED.checked_at;",
            cancellationToken, Text("node", db.NodeId), Number("now", Ms(time.GetUtcNow()))), cancellationToken);

    public void Close()
    {
        // The data source and the listener are closed when the container disposes them, after the hosts stopped.
    }
}
