using FetchApi.Batches;
using FetchApi.Callbacks;
using FetchApi.Engine;

namespace FetchApi.Storage;

public static class StorageExtensions
{
    /// <summary>
    /// The store, by role: each consumer declares the interface it needs (the batch service its commands and queries,
    /// the engine its work source and result sink, callbacks their outbox) and the provider implements them all:
    /// an SQLite file for one node (the default), PostgreSQL for several (<c>Storage:Provider</c>).
    /// </summary>
    public static WebApplicationBuilder AddFetchStorage(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<StorageOptions>(StorageOptions.Section);
        builder.Services.AddSingleton<RetentionService>();
        // Read at build time, since it decides the registrations; an unknown value stops the start naming the key.
        var provider = builder.Configuration.GetValue($"{StorageOptions.Section}:{nameof(StorageOptions.Provider)}", StorageProvider.Sqlite);
        if (provider == StorageProvider.Postgres)
        {
            builder.Services.AddSingleton<PostgresDatabase>();
            builder.Services.AddSingleton<PostgresNotifications>();
            builder.Services.AddSingleton<IStore, PostgresStore>();
            builder.Services.AddSingleton<IBatchCommands, PostgresBatchCommands>();
            builder.Services.AddSingleton<IBatchQueries, PostgresBatchQueries>();
            builder.Services.AddSingleton<PostgresWorkClaims>();
            builder.Services.AddSingleton<IWorkSource>(sp => sp.GetRequiredService<PostgresWorkClaims>());
            builder.Services.AddSingleton<IWorkClaims>(sp => sp.GetRequiredService<PostgresWorkClaims>());
            builder.Services.AddSingleton<IResultSink, PostgresResultSink>();
            builder.Services.AddSingleton<ICallbackOutbox, PostgresCallbackOutbox>();
            builder.Services.AddSingleton<IRetentionStore, PostgresRetention>();
            return builder;
        }

        builder.Services.AddSingleton<SqliteDatabase>();
        builder.Services.AddSingleton<IStore, SqliteStore>();
        builder.Services.AddSingleton<IBatchCommands, SqliteBatchCommands>();
        builder.Services.AddSingleton<IBatchQueries, SqliteBatchQueries>();
        builder.Services.AddSingleton<IWorkSource, SqliteWorkSource>();
        builder.Services.AddSingleton<IResultSink, SqliteResultSink>();
        builder.Services.AddSingleton<ICallbackOutbox, SqliteCallbackOutbox>();
        builder.Services.AddSingleton<IRetentionStore, SqliteRetention>();
        return builder;
    }
}
