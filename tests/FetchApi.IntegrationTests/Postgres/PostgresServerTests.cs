using System.Diagnostics;
using System.Net.Sockets;
using Npgsql;

namespace FetchApi.IntegrationTests.Postgres;

/// <summary>The throwaway PostgreSQL server the storage tests run against: isolated, loopback-only, and never left running.</summary>
public sealed class PostgresServerTests(PostgresFixture postgres)
{
    static async Task<NpgsqlConnection> OpenAsync(string connectionString)
    {
        var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        return connection;
    }

    static async Task<object?> ScalarAsync(string connectionString, string sql)
    {
        await using var connection = await OpenAsync(connectionString);
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync(TestContext.Current.CancellationToken);
    }

    static bool Listens(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    [Fact]
    public async Task ATableCreatedInOneTestDatabaseIsNotVisibleInAnother()
    {
        var first = await postgres.CreateDatabaseAsync();
        var second = await postgres.CreateDatabaseAsync();
        Assert.NotEqual(first, second);

        await ScalarAsync(first, "CREATE TABLE batches (id uuid PRIMARY KEY); INSERT INTO batches VALUES (gen_random_uuid());");

        Assert.Equal(1L, await ScalarAsync(first, "SELECT count(*) FROM batches"));
        var missing = await Assert.ThrowsAsync<PostgresException>(() => ScalarAsync(second, "SELECT count(*) FROM batches"));
        Assert.Equal(PostgresErrorCodes.UndefinedTable, missing.SqlState);
    }

    [Fact]
    public async Task ADatabaseAskedForByNameHasThatName()
    {
        var name = $"orders_{Guid.NewGuid():N}";

        var database = await postgres.CreateDatabaseAsync(name);

        Assert.Equal(name, new NpgsqlConnectionStringBuilder(database).Database);
        Assert.Equal(name, await ScalarAsync(database, "SELECT current_database()"));
    }

    [Fact]
    public async Task TheServerListensOnLoopbackOnly()
    {
        var server = await postgres.GetServerAsync();

        Assert.Equal("127.0.0.1", await ScalarAsync(server.ConnectionString, "SHOW listen_addresses"));
        Assert.Equal("127.0.0.1", await ScalarAsync(server.ConnectionString, "SELECT host(inet_server_addr())"));
        Assert.Equal(server.Port, await ScalarAsync(server.ConnectionString, "SELECT inet_server_port()"));
        Assert.Equal("127.0.0.1", new NpgsqlConnectionStringBuilder(server.ConnectionString).Host);
    }

    [Fact]
    public async Task DisposingStopsTheServerAndDeletesItsFolder()
    {
        var server = await PostgresServer.StartAsync();
        var database = await server.CreateDatabaseAsync();
        // A pooled connection stays open: disposing must not wait for it or leave it behind.
        Assert.Equal(1, await ScalarAsync(database, "SELECT 1"));
        Assert.True(Listens(server.Port), server.Log);

        await server.DisposeAsync();

        Assert.False(Directory.Exists(server.Folder), $"{server.Folder} is still there");
        Assert.False(Listens(server.Port), $"something still listens on {server.Port}");
    }

    [Fact]
    public async Task AServerWhoseTestRunWasKilledStopsByItself()
    {
        // The "test run" is a child process, so it can be killed without ending this one.
        using var run = Process.Start("sleep", "600");
        await using var server = await PostgresServer.StartAsync(run.Id);
        Assert.True(Listens(server.Port), server.Log);

        run.Kill();
        await run.WaitForExitAsync(TestContext.Current.CancellationToken);

        await Api.EventuallyAsync(() => !Directory.Exists(server.Folder) && !Listens(server.Port),
            $"the server on port {server.Port} outlived its owner", TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task TheNextStartStopsAServerLeftByAKilledRunWhoseWatchdogWasLostToo()
    {
        using var run = Process.Start("sleep", "600");
        await using var server = await PostgresServer.StartAsync(run.Id);
        using (var watchdog = Process.GetProcessById(server.WatchdogProcessId))
        {
            watchdog.Kill(entireProcessTree: true);
            await watchdog.WaitForExitAsync(TestContext.Current.CancellationToken);
        }

        run.Kill();
        await run.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.True(Listens(server.Port), "the server stopped although nothing was left to stop it");

        await PostgresServer.StopStaleServersAsync();

        Assert.False(Directory.Exists(server.Folder), $"{server.Folder} is still there");
        Assert.False(Listens(server.Port), $"something still listens on {server.Port}");
    }
}
