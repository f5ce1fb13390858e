using System.Runtime.ExceptionServices;
using FetchApi.IntegrationTests.Postgres;

// One server for the whole run, shared by every test class that takes a PostgresFixture in its constructor.
[assembly: AssemblyFixture(typeof(PostgresFixture))]

namespace FetchApi.IntegrationTests.Postgres;

/// <summary>
/// One <see cref="PostgresServer"/> shared by every test that asks for it (starting one takes a second or two), each
/// test taking its own database. The server starts with the first test that asks, so a run without PostgreSQL tests
/// starts none, and a missing PostgreSQL skips (or on CI fails) just the tests that need it.
/// </summary>
public sealed class PostgresFixture : IAsyncDisposable
{
    readonly SemaphoreSlim _starting = new(1, 1);
    PostgresServer? _server;
    // A failed start fails every later test that asks, with the same message, rather than starting again for each.
    ExceptionDispatchInfo? _startFailure;

    /// <summary>The shared server; skips or fails the test where PostgreSQL is not installed.</summary>
    public async Task<PostgresServer> GetServerAsync()
    {
        PostgresServer.RequireInstalled();
        await _starting.WaitAsync(TestContext.Current.CancellationToken);
        try
        {
            _startFailure?.Throw();
            if (_server is null)
            {
                try
                {
                    _server = await PostgresServer.StartAsync();
                }
                catch (Exception exception)
                {
                    _startFailure = ExceptionDispatchInfo.Capture(exception);
                    throw;
                }
            }

            return _server;
        }
        finally
        {
            _starting.Release();
        }
    }

    /// <summary>A new empty database on the shared server; returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string? name = null) =>
        await (await GetServerAsync()).CreateDatabaseAsync(name);

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _starting.Dispose();
    }
}
