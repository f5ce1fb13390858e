using FetchApi.Batches;
using FetchApi.Callbacks;
using FetchApi.Engine;

namespace FetchApi.Storage;

public static class StorageExtensions
{
    /// <summary>
    /// The store, by role: each consumer declares the interface it needs (the batch service its commands and queries,
    /// the engine its work source and result sink, callbacks their outbox) and the SQLite file implements them all.
    /// </summary>
    public static WebApplicationBuilder AddFetchStorage(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<StorageOptions>(StorageOptions.Section);
        builder.Services.AddSingleton<SqliteDatabase>();
        builder.Services.AddSingleton<IStore, SqliteStore>();
        builder.Services.AddSingleton<IBatchCommands, SqliteBatchCommands>();
        builder.Services.AddSingleton<IBatchQueries, SqliteBatchQueries>();
        builder.Services.AddSingleton<IWorkSource, SqliteWorkSource>();
        builder.Services.AddSingleton<IResultSink, SqliteResultSink>();
        builder.Services.AddSingleton<ICallbackOutbox, SqliteCallbackOutbox>();
        builder.Services.AddSingleton<IRetentionStore, SqliteRetention>();
        builder.Services.AddSingleton<RetentionService>();
        return builder;
    }
}
