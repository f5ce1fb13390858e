using System.Net;

namespace FetchApi.IntegrationTests.Storage;

/// <summary>
/// The SQLite file deleted or replaced under a running service: never silent. The service stops accepting (503
/// store_unavailable, readiness 503) instead of writing into an unlinked file, and a later start refuses to begin anew
/// on an empty file where earlier data should be.
/// </summary>
public sealed class StoreFileLostTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ADeletedOrReplacedFileStopsTheServiceAndARestartRefusesToBeginAnew(bool replace)
    {
        var ct = TestContext.Current.CancellationToken;
        var directory = Path.Combine(Path.GetTempPath(), "fetchapi-lost", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var file = Path.Combine(directory, "store.db");
        var settings = new Dictionary<string, string?> { ["Storage:ConnectionString"] = $"Data Source={file}" };
        await using (var upstream = await Upstream.UpstreamServer.StartAsync())
        await using (var factory = new FetchApiFactory(settings))
        {
            using var client = factory.CreateClient();
            var id = await client.SubmitAsync([upstream.Url("/ok")]);
            await client.WaitUntilDoneAsync(id);

            File.Delete(file);
            if (replace)
            {
                // Another (empty) database put where ours was.
                await using var other = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={file};Pooling=False");
                await other.OpenAsync(ct);
                await using var command = other.CreateCommand();
                command.CommandText = "PRAGMA application_id=12345; CREATE TABLE t (x);";
                await command.ExecuteNonQueryAsync(ct);
            }

            using var ready = await client.GetAsync("/health/ready", ct);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            var (status, body, _) = await client.PostRawAsync("/batches", $$"""{"urls":["{{upstream.Url("/ok")}}"]}""");
            Assert.Equal((HttpStatusCode.ServiceUnavailable, "store_unavailable"), (status, body!["code"]!.GetValue<string>()));
            using var read = await client.GetAsync($"/batches/{id}", ct);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, read.StatusCode);
        }

        // A restart (the real process) refuses to begin anew on the empty or foreign file, in one line.
        var dll = Durability.ServiceProcess.ServiceDll();
        var info = new System.Diagnostics.ProcessStartInfo("dotnet", [dll, "--urls", "http://127.0.0.1:0"])
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        info.Environment["Storage__ConnectionString"] = $"Data Source={file}";
        info.Environment["Security__DeniedNetworks__0"] = "0.0.0.0/0";
        using var process = System.Diagnostics.Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync(ct);
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(deadline.Token);
        await stdout;

        Assert.Equal(1, process.ExitCode);
        var line = Assert.Single((await stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("Refusing to start: ", line, StringComparison.Ordinal);
        Assert.Contains("is not the database this service created", line, StringComparison.Ordinal);
        Directory.Delete(directory, recursive: true);
    }
}
