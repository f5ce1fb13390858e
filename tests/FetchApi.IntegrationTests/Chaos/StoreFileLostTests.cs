using System.Net;
using FetchApi.IntegrationTests.Durability;

namespace FetchApi.IntegrationTests.Chaos;

/// <summary>
/// The SQLite file deleted or replaced under the running process: never silent. The service stops accepting (503
/// store_unavailable, readiness 503) instead of writing into an unlinked file, says so in a Critical log line, and a
/// later start refuses to begin anew on an empty (or foreign) file where earlier data should be.
/// </summary>
public sealed class StoreFileLostTests() : ServiceOnFileTest("lost")
{

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ADeletedOrReplacedFileStopsTheServiceLoudlyAndARestartRefusesToBeginAnew(bool replace)
    {
        var ct = TestContext.Current.CancellationToken;
        await using (var service = await ServiceProcess.StartAsync(DatabasePath))
        {
            var id = await service.Client.SubmitAsync([Upstream.Url("/ok")]);
            await service.Client.WaitUntilDoneAsync(id);

            if (replace)
            {
                // Another database moved into its place, as a careless restore does.
                var other = DatabasePath + ".other";
                await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={other};Pooling=False"))
                {
                    await connection.OpenAsync(ct);
                    await using var command = connection.CreateCommand();
                    command.CommandText = "PRAGMA application_id=12345; CREATE TABLE t (x);";
                    await command.ExecuteNonQueryAsync(ct);
                }

                File.Move(other, DatabasePath, overwrite: true);
            }
            else
            {
                File.Delete(DatabasePath);
            }

            using (var ready = await service.Client.GetAsync("/health/ready", ct))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
                var reason = await ready.Content.ReadAsStringAsync(ct);
                Assert.Contains("the store was lost", reason, StringComparison.Ordinal);
                Assert.DoesNotContain(Folder, reason, StringComparison.Ordinal);
            }

            var (status, body, _) = await service.Client.PostRawAsync("/batches", $$"""{"urls":["{{Upstream.Url("/ok")}}"]}""");
            Assert.Equal((HttpStatusCode.ServiceUnavailable, "store_unavailable"), (status, body!["code"]!.GetValue<string>()));
            Assert.StartsWith("The service's database file was removed or replaced", body["detail"]!.GetValue<string>(), StringComparison.Ordinal);
            using (var read = await service.Client.GetAsync($"/batches/{id}", ct))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, read.StatusCode);
            }

            Assert.Contains("STORE LOST: ", service.Output, StringComparison.Ordinal);
            await service.KillAsync();
        }

        // A restart refuses to begin anew on the empty or foreign file, in one line.
        var (exitCode, errors) = await ServiceProcess.RunUntilExitAsync(
            new Dictionary<string, string> { ["Storage__ConnectionString"] = $"Data Source={DatabasePath}" });
        Assert.Equal(1, exitCode);
        var line = Assert.Single(errors);
        Assert.StartsWith("Refusing to start: ", line, StringComparison.Ordinal);
        Assert.Contains("is not the database this service created", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ADeletedWriteAheadLogIsA503AtTheNextWriteNotA202IntoAnUnlinkedFile()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var service = await ServiceProcess.StartAsync(DatabasePath);
        var id = await service.Client.SubmitAsync([Upstream.Url("/ok")]);
        await service.Client.WaitUntilDoneAsync(id);

        File.Delete(DatabasePath + "-wal");

        var (status, body, _) = await service.Client.PostRawAsync("/batches", $$"""{"urls":["{{Upstream.Url("/ok")}}"]}""");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("store_unavailable", body!["code"]!.GetValue<string>());
        using (var ready = await service.Client.GetAsync("/health/ready", ct))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        }

        Assert.Contains("STORE LOST: the write-ahead log", service.Output, StringComparison.Ordinal);
    }
}

