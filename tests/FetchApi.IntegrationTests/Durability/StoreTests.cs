using System.Net;
using FetchApi.IntegrationTests.Upstream;
using Microsoft.Data.Sqlite;

namespace FetchApi.IntegrationTests.Durability;

public sealed class StoreTests
{
    static SqliteConnection Open(string path)
    {
        var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        return connection;
    }

    static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    [Fact]
    public async Task PostingWhileTheStoreIsLockedAnswers503WithRetryAfterThenWorksAgain()
    {
        await using var upstream = await UpstreamServer.StartAsync();
        await using var factory = new FetchApiFactory(new Dictionary<string, string?> { ["Storage:BusyTimeout"] = "00:00:00.200" });
        using var client = factory.CreateClient();
        var body = $$"""{"urls":["{{upstream.Url("/ok")}}"]}""";

        using (var locker = Open(factory.DatabasePath))
        {
            Execute(locker, "BEGIN IMMEDIATE;");
            var (status, problem, response) = await client.PostRawAsync("/batches", body);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            Assert.Equal("store_unavailable", problem!["code"]!.GetValue<string>());
            Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero);
            Execute(locker, "ROLLBACK;");
        }

        var (after, _, _) = await client.PostRawAsync("/batches", body);
        Assert.Equal(HttpStatusCode.Accepted, after);
    }

    [Fact]
    public async Task ResultsFinishedWhileTheStoreIsLockedAreWrittenOnceItIsFree()
    {
        await using var upstream = await UpstreamServer.StartAsync();
        await using var factory = new FetchApiFactory(new Dictionary<string, string?> { ["Storage:BusyTimeout"] = "00:00:00.050" });
        using var client = factory.CreateClient();
        var id = await client.SubmitAsync(Enumerable.Range(0, 40).Select(i => upstream.Url($"/delay/50?i={i}")), new { concurrency = 4 });

        using (var locker = Open(factory.DatabasePath))
        {
            Execute(locker, "BEGIN IMMEDIATE;");
            // Hold the lock while fetches finish: the writer must keep their results and retry.
            await Api.EventuallyAsync(() => upstream.Requests >= 20, "the engine stopped fetching while the store was locked");

            Execute(locker, "ROLLBACK;");
        }

        var slots = await client.ResultsAsync(id);
        Assert.Equal(40, slots.Count);
        Assert.All(slots, s => Assert.Equal("fetched", s.State()));
    }

    [Fact]
    public async Task FetchingPausesWhileResultsCannotBeWrittenSoMemoryStaysBounded()
    {
        const int maxUnwritten = 30, concurrency = 5, urls = 300;
        await using var upstream = await UpstreamServer.StartAsync();
        await using var factory = new FetchApiFactory(new Dictionary<string, string?>
        {
            ["Storage:BusyTimeout"] = "00:00:00.050",
            ["Engine:MaxUnwrittenResults"] = $"{maxUnwritten}",
        });
        using var client = factory.CreateClient();
        var id = await client.SubmitAsync(Enumerable.Range(0, urls).Select(i => upstream.Url($"/gate/unwritten?i={i}")), new { concurrency });
        await Api.EventuallyAsync(() => upstream.Requests == concurrency, "the first fetches did not start");

        using (var locker = Open(factory.DatabasePath))
        {
            Execute(locker, "BEGIN IMMEDIATE;");
            upstream.Open("unwritten");
            // The writer cannot write: once maxUnwritten results wait, the engine starts nothing and readiness says why.
            await Api.EventuallyAsync(async () =>
            {
                using var ready = await client.GetAsync(new Uri("/health/ready", UriKind.Relative), TestContext.Current.CancellationToken);
                return (await ready.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).Contains("results wait to be written", StringComparison.Ordinal);
            }, "fetching did not pause while no result could be written");
            // At most the fetches in flight when it paused finish after it: nothing else was fetched.
            Assert.InRange(upstream.Requests, maxUnwritten, maxUnwritten + concurrency);

            Execute(locker, "ROLLBACK;");
        }

        var slots = await client.ResultsAsync(id);
        Assert.Equal(urls, slots.Count);
        Assert.All(slots, s => Assert.Equal("fetched", s.State()));
    }

    [Fact]
    public async Task BatchLargerThanTheInMemoryWindowCompletes()
    {
        await using var upstream = await UpstreamServer.StartAsync();
        await using var factory = new FetchApiFactory(new Dictionary<string, string?> { ["Engine:WindowSize"] = "16" });
        using var client = factory.CreateClient();

        var id = await client.SubmitAsync(Enumerable.Range(0, 300).Select(i => upstream.Url($"/ok?i={i}")), new { concurrency = 4 });
        var slots = await client.ResultsAsync(id);

        Assert.Equal(Enumerable.Range(0, 300), slots.Select(s => s["index"]!.GetValue<int>()));
        Assert.All(slots, s => Assert.Equal("fetched", s.State()));
        Assert.Equal(300, upstream.Requests);
    }

    [Fact]
    public async Task BatchesAreDeletedOnceTheirRetentionHasPassed()
    {
        await using var upstream = await UpstreamServer.StartAsync();
        await using var factory = new FetchApiFactory(new Dictionary<string, string?>
        {
            ["Storage:Retention"] = "00:00:01",
            ["Storage:RetentionSweepInterval"] = "00:00:00.100",
        });
        using var client = factory.CreateClient();
        var id = await client.SubmitAsync([upstream.Url("/ok")]);
        await client.WaitUntilDoneAsync(id);

        await Api.EventuallyAsync(async () =>
        {
            using var response = await client.GetAsync($"/batches/{id}", TestContext.Current.CancellationToken);
            return response.StatusCode == HttpStatusCode.NotFound;
        }, "the batch outlived its retention");
    }

    [Fact]
    public async Task DatabaseFromANewerBuildStopsTheServiceWithAClearMessage()
    {
        var directory = Path.Combine(Path.GetTempPath(), "fetchapi-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, "future.db");
        using (var connection = Open(path))
        {
            Execute(connection, "PRAGMA user_version = 999;");
        }

        await using var factory = new FetchApiFactory(new Dictionary<string, string?> { ["Storage:ConnectionString"] = $"Data Source={path}" });
        var error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());
        Assert.Contains("schema version 999", error.ToString(), StringComparison.Ordinal);
        Directory.Delete(directory, recursive: true);
    }
}
