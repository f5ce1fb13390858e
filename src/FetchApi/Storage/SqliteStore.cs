using static FetchApi.Storage.SqliteDatabase;

namespace FetchApi.Storage;

#pragma warning disable VSTHRD103 // see SqliteDatabase

/// <summary>The SQLite file's schema, health check and close.</summary>
public sealed class SqliteStore(SqliteDatabase db, TimeProvider time) : IStore
{
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        try
        {
            await OpenAsync(cancellationToken);
        }
        catch (Microsoft.Data.Sqlite.SqliteException e) when (IsUnavailable(e))
        {
            // A read-only folder or mount, a full disk: the service waits for the file (see Lifetime).
            throw Unavailable(e);
        }
    }

    async Task OpenAsync(CancellationToken cancellationToken)
    {
        var marker = db.File is { } file ? file + ".identity" : null;
        var expected = marker is not null && System.IO.File.Exists(marker)
            ? int.Parse(await System.IO.File.ReadAllTextAsync(marker, cancellationToken), System.Globalization.CultureInfo.InvariantCulture)
            : (int?)null;
        if (expected is { } identity && IdentityOf(db.File!) != identity)
        {
            // Earlier data should be here: beginning anew on an empty (or another) file would answer 404 for every batch.
            throw new Model.StartupRefusedException(
                $"{db.File} is not the database this service created (its marker {marker} names identity {identity}): the file was " +
                "deleted or replaced. Restore it from a backup, or delete the marker to start with an empty store on purpose.");
        }

        await using var c = await db.OpenAsync(cancellationToken);
        // The mode it got: a file system without shared memory (some network mounts) keeps the rollback journal.
        await using (var journal = Command(c, null, "PRAGMA journal_mode=WAL;"))
        {
            db.UsesWal = Equals(await journal.ExecuteScalarAsync(cancellationToken), "wal");
        }

        var current = (int)await ScalarAsync(c, null, "PRAGMA user_version;", cancellationToken);
        if (current > SqliteSchema.Version)
        {
            throw new InvalidOperationException(
                $"The database has schema version {current}, newer than this build's {SqliteSchema.Version}. Use a newer build or another file.");
        }

        if (current < SqliteSchema.Version)
        {
            await using var tx = c.BeginTransaction(deferred: false);
            for (var step = current; step < SqliteSchema.Version; step++)
            {
                await ExecuteAsync(c, tx, SqliteSchema.Steps[step], cancellationToken);
            }

            await ExecuteAsync(c, tx, $"PRAGMA user_version={SqliteSchema.Version};", cancellationToken);
            await tx.CommitAsync(cancellationToken);
        }

        // The file's identity, in its header: what tells this file from one put in its place later.
        var id = (int)await ScalarAsync(c, null, "PRAGMA application_id;", cancellationToken);
        if (id == 0)
        {
            id = Random.Shared.Next(1, int.MaxValue);
            await ExecuteAsync(c, null, $"PRAGMA application_id={id};", cancellationToken);
        }

        if (db.File is { } path)
        {
            if (IdentityOf(path) != id)
            {
                try
                {
                    // Into the main file's header, where the identity checks read it (not only the WAL).
                    await ExecuteAsync(c, null, "PRAGMA wal_checkpoint(TRUNCATE);", cancellationToken);
                }
                catch (Microsoft.Data.Sqlite.SqliteException)
                {
                    // Read-only now: the identity reaches the header at a later start.
                }
            }

            // The checks begin once the header carries the identity, never on a guess.
            if (IdentityOf(path) == id)
            {
                if (marker is not null && expected is null)
                {
                    await System.IO.File.WriteAllTextAsync(marker, id.ToString(System.Globalization.CultureInfo.InvariantCulture), cancellationToken);
                }

                db.Adopt(id);
            }
        }

        db.Reserve.Start();
    }

    public Task CheckAsync(CancellationToken cancellationToken)
    {
        db.EnsureSameFile(now: true);
        return db.WriteAsync(async c =>
        {
            await using var tx = c.BeginTransaction(deferred: false);
            await ExecuteAsync(c, tx, "INSERT OR REPLACE INTO health (id, checked_at) VALUES (1, $now);", cancellationToken,
                ("$now", Ms(time.GetUtcNow())));
            await tx.CommitAsync(cancellationToken);
            return true;
        }, cancellationToken);
    }

    public void Close() => db.Close();
}
