using System.Net;
using FetchApi.IntegrationTests.Durability;
using FetchApi.IntegrationTests.Upstream;

namespace FetchApi.IntegrationTests.Chaos;

/// <summary>
/// The disk under the SQLite file fills up (a small tmpfs, filled by another file). New batches are refused (503
/// store_unavailable, readiness 503), but an operator can still delete and cancel batches through the API: the service
/// keeps a reserve file beside the database and gives its room to those writes when the disk fills. Once space is
/// freed the service takes new batches again, without a restart.
/// </summary>
public sealed class DiskFullTests
{
    static readonly string Padding = new('x', 1500);

    [Fact]
    public async Task OnAFullDiskDeletesAndCancelsStillWorkAndNewBatchesResumeOnceThereIsRoom()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var disk = await Faults.SmallDiskAsync(32 * 1024 * 1024);
        await using var upstream = await UpstreamServer.StartAsync();
        // The default reserve (64 MiB) does not fit this disk: the service takes a quarter of its free space instead.
        await using var service = await ServiceProcess.StartAsync(Path.Combine(disk.Directory, "fetchapi.db"));
        var client = service.Client;
        Assert.InRange(new FileInfo(Path.Combine(disk.Directory, "fetchapi.db.reserve")).Length, 4 * 1024 * 1024, 8 * 1024 * 1024);
        string Body(string tag) =>
            $$"""{"urls":[{{string.Join(',', Enumerable.Range(0, 500).Select(i => $"\"{upstream.Url($"/ok?{tag}={i}&pad={Padding}")}\""))}}]}""";

        var (status, body, _) = await client.PostRawAsync("/batches", Body("done"));
        Assert.Equal(HttpStatusCode.Accepted, status);
        var done = Guid.Parse(body!["id"]!.GetValue<string>());
        await client.WaitUntilDoneAsync(done);
        var waiting = await client.SubmitAsync(Enumerable.Range(0, 20).Select(i => upstream.Url($"/gate/full?i={i}")));

        await disk.FillAsync("filler");
        // Writes go on into the room SQLite's files already have, until they need more: then the store says it is full.
        var refused = 0;
        for (var attempt = 0; attempt < 40 && refused < 2; attempt++)
        {
            (status, body, _) = await client.PostRawAsync("/batches", Body($"fill{attempt}"));
            refused = status == HttpStatusCode.ServiceUnavailable ? refused + 1 : 0;
        }

        Assert.True(refused == 2, $"the full disk never refused a batch:\n{service.Output}");
        Assert.Equal("store_unavailable", body!["code"]!.GetValue<string>());
        Assert.StartsWith("The service's disk is full", body["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        using (var ready = await client.GetAsync("/health/ready", ct))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            Assert.Contains("the disk is full", await ready.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
        }

        using (var cancel = await client.PostAsync(new Uri($"/batches/{waiting}/cancel", UriKind.Relative), null, ct))
        {
            Assert.True(cancel.StatusCode == HttpStatusCode.OK, $"cancel on a full disk: {(int)cancel.StatusCode} {await cancel.Content.ReadAsStringAsync(ct)}");
        }

        using (var delete = await client.DeleteAsync(new Uri($"/batches/{done}", UriKind.Relative), ct))
        {
            Assert.True(delete.StatusCode == HttpStatusCode.NoContent, $"delete on a full disk: {(int)delete.StatusCode} {await delete.Content.ReadAsStringAsync(ct)}");
        }

        using (var gone = await client.GetAsync(new Uri($"/batches/{done}", UriKind.Relative), ct))
        {
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        }

        File.Delete(Path.Combine(disk.Directory, "filler"));
        await Api.EventuallyAsync(async () =>
        {
            using var ready = await client.GetAsync("/health/ready", ct);
            return ready.StatusCode == HttpStatusCode.OK;
        }, $"readiness did not recover once the disk had room:\n{service.Output}");
        var fresh = await client.SubmitAsync([upstream.Url("/ok")]);
        Assert.Equal("completed", (await client.WaitUntilDoneAsync(fresh))["status"]!.GetValue<string>());
        Assert.Equal("cancelled", (await client.GetJsonAsync($"/batches/{waiting}?results=false"))["status"]!.GetValue<string>());
    }
}
