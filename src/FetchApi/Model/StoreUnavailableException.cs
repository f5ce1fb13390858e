namespace FetchApi.Model;

/// <summary>What keeps the store from taking writes, as far as a client may know it (the log says more).</summary>
public enum StoreFault
{
    /// <summary>Locked by another writer, unreachable, or an I/O error: usually passes by itself.</summary>
    Unavailable,

    /// <summary>The service may not write its database file.</summary>
    ReadOnly,

    /// <summary>The disk holding the database is full.</summary>
    DiskFull,

    /// <summary>The database file was deleted or replaced under the running service; an operator must act.</summary>
    Lost,
}

/// <summary>The store cannot take writes right now (locked, full, read-only, I/O error); the caller may retry later.</summary>
public sealed class StoreUnavailableException(Exception inner, StoreFault fault = StoreFault.Unavailable)
    : Exception($"The store cannot accept writes: {inner.Message}", inner)
{
    public StoreFault Fault { get; } = fault;
}
