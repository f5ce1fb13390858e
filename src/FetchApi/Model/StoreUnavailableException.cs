namespace FetchApi.Model;

/// <summary>The store cannot take writes right now (locked, full, read-only, I/O error); the caller may retry later.</summary>
public sealed class StoreUnavailableException(Exception inner) : Exception($"The store cannot accept writes: {inner.Message}", inner);
