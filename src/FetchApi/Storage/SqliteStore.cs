using static FetchApi.Storage.SqliteDatabase;

namespace FetchApi.Storage;

#pragma warning disable VSTHRD103 // see SqliteDatabase

/// <summary>The SQLite file's schema, health check and close.</summary>
public sealed class SqliteStore(SqliteDatabase db, TimeProvider time) : IStore
{
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await using var c = await db.OpenAsync(cancellationToken);
        await ExecuteAsync(c, null, "PRAGMA journal_mode=WAL;", cancellationToken);
        var current = (int)await ScalarAsync(c, null, "PRAGMA user_version;", cancellationToken);
        if (current > SqliteSchema.Version)
        {
            throw new InvalidOperationException(
                $"The database has schema version {current}, newer than this build's {SqliteSchema.Version}. Use a newer build or another file.");
        }

        if (current == SqliteSchema.Version)
        {
            return;
        }

        await using var tx = c.BeginTransaction(deferred: false);
        for (var step = current; step < SqliteSchema.Version; step++)
        {
            await ExecuteAsync(c, tx, SqliteSchema.Steps[step], cancellationToken);
        }

        await ExecuteAsync(c, tx, $"PRAGMA user_version={SqliteSchema.Version};", cancellationToken);
        await tx.CommitAsync(cancellationToken);
    }

    public Task CheckAsync(CancellationToken cancellationToken) =>
        db.WriteAsync(async c =>
        {
            await using var tx = c.BeginTransaction(deferred: false);
            await ExecuteAsync(c, tx, "INSERT OR REPLACE INTO health (id, checked_at) VALUES (1, $now);", cancellationToken,
                ("$now", Ms(time.GetUtcNow())));
            await tx.CommitAsync(cancellationToken);
            return true;
        }, cancellationToken);

    public void Close() => db.Close();
}
