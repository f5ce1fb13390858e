using System.Net;
using FetchApi.IntegrationTests.Durability;

namespace FetchApi.IntegrationTests.Chaos;

/// <summary>
/// The real process started on a database file it may not write (a wrong owner or mode after a restore): it answers
/// 503 store_unavailable and readiness 503 meanwhile, and once the file is writable again it recovers by itself:
/// new batches are taken, and the slots it had to leave pending are fetched and written. No restart.
/// </summary>
public sealed class ReadOnlyStoreTests() : ServiceOnFileTest("readonly")
{
    public override async ValueTask DisposeAsync()
    {
        await Faults.RunAsync("chattr", "-i", DatabasePath);
        await base.DisposeAsync();
    }

    [Fact]
    public async Task AStartOnAReadOnlyFileRecoversWithoutARestartOnceTheFileIsWritable()
    {
        var ct = TestContext.Current.CancellationToken;
        Guid waiting;
        await using (var first = await ServiceProcess.StartAsync(DatabasePath))
        {
            // Accepted, then the process dies before the slot is fetched: the next start owes this result.
            waiting = await first.Client.SubmitAsync([Upstream.Url("/gate/readonly")]);
            await first.KillAsync();
        }

        Upstream.Open("readonly");
        var readOnly = await Faults.ReadOnlyAsync(DatabasePath);
        await using var service = await ServiceProcess.StartAsync(DatabasePath, ready: false);
        using (var ready = await service.Client.GetAsync("/health/ready", ct))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        }

        var (status, body, _) = await service.Client.PostRawAsync("/batches", $$"""{"urls":["{{Upstream.Url("/ok")}}"]}""");
        Assert.Equal((HttpStatusCode.ServiceUnavailable, "store_unavailable"), (status, body!["code"]!.GetValue<string>()));
        Assert.StartsWith("The service may not write its database file", body["detail"]!.GetValue<string>(), StringComparison.Ordinal);

        await readOnly.DisposeAsync();

        await Api.EventuallyAsync(async () =>
        {
            using var ready = await service.Client.GetAsync("/health/ready", ct);
            return ready.StatusCode == HttpStatusCode.OK;
        }, $"readiness did not recover once the file was writable:\n{service.Output}");
        var fresh = await service.Client.SubmitAsync([Upstream.Url("/ok")]);
        Assert.Equal("completed", (await service.Client.WaitUntilDoneAsync(fresh))["status"]!.GetValue<string>());
        var slot = Assert.Single(await service.Client.ResultsAsync(waiting));
        Assert.Equal(("fetched", 200), (slot.State(), slot.StatusCode()));
        Assert.Equal(0, await service.TerminateAsync(TimeSpan.FromSeconds(25)));
    }

    [Fact]
    public async Task ASigtermWhileTheFileIsReadOnlyLeavesTheUnwrittenResultsToTheNextStartWithoutHanging()
    {
        Guid waiting;
        await using (var first = await ServiceProcess.StartAsync(DatabasePath))
        {
            waiting = await first.Client.SubmitAsync([Upstream.Url("/gate/sigterm")]);
            await Api.EventuallyAsync(() => Upstream.RequestsPerUrl.GetValueOrDefault("/gate/sigterm") == 1, "the slot was not fetched");
            await first.KillAsync();
        }

        Upstream.Open("sigterm");
        await using (var readOnly = await Faults.ReadOnlyAsync(DatabasePath))
        await using (var service = await ServiceProcess.StartAsync(DatabasePath, ready: false))
        {
            // The slot is fetched again, and its result has nowhere to go.
            await Api.EventuallyAsync(() => Upstream.RequestsPerUrl.GetValueOrDefault("/gate/sigterm") == 2,
                $"the resumed slot was not fetched again:\n{service.Output}");
            // Well inside the host's own 30 s: the writer gives up after a few quick tries instead of holding the stop.
            Assert.Equal(0, await service.TerminateAsync(TimeSpan.FromSeconds(20)));
            Assert.Contains("results the store would not take; their slots stay pending", service.Output, StringComparison.Ordinal);
        }

        await using var again = await ServiceProcess.StartAsync(DatabasePath);
        var slot = Assert.Single(await again.Client.ResultsAsync(waiting));
        Assert.Equal(("fetched", 200), (slot.State(), slot.StatusCode()));
    }

    [Fact]
    public async Task AStartOnAReadOnlyMountRunsWithoutTheStoreAndGoesOnOnceItIsWritable()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var disk = await Faults.SmallDiskAsync(32 * 1024 * 1024);
        var file = Path.Combine(disk.Directory, "fetchapi.db");
        var settings = new Dictionary<string, string> { ["Storage__DiskReserveBytes"] = "0", ["Engine__ShutdownTimeout"] = "00:00:01" };
        Guid waiting;
        await using (var first = await ServiceProcess.StartAsync(file, settings))
        {
            waiting = await first.Client.SubmitAsync([Upstream.Url("/gate/mount")]);
            await Api.EventuallyAsync(() => Upstream.RequestsPerUrl.GetValueOrDefault("/gate/mount") == 1, "the slot was not fetched");
            // A clean stop: the slot stays pending, and SQLite removes its -wal and -shm, which a read-only mount cannot recreate.
            Assert.Equal(0, await first.TerminateAsync(TimeSpan.FromSeconds(25)));
            Assert.False(File.Exists(file + "-wal"));
        }

        Upstream.Open("mount");
        var readOnly = await disk.ReadOnlyAsync();
        await using var service = await ServiceProcess.StartAsync(file, settings, ready: false);
        using (var ready = await service.Client.GetAsync("/health/ready", ct))
        {
            Assert.True(ready.StatusCode == HttpStatusCode.ServiceUnavailable, await ready.Content.ReadAsStringAsync(ct));
        }

        var (status, body, _) = await service.Client.PostRawAsync("/batches", $$"""{"urls":["{{Upstream.Url("/ok")}}"]}""");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("store_unavailable", body!["code"]!.GetValue<string>());
        using (var read = await service.Client.GetAsync($"/batches/{waiting}", ct))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, read.StatusCode);
        }

        Assert.Contains("The store cannot be opened", service.Output, StringComparison.Ordinal);

        await readOnly.DisposeAsync();
        await Api.EventuallyAsync(async () =>
        {
            using var ready = await service.Client.GetAsync("/health/ready", ct);
            return ready.StatusCode == HttpStatusCode.OK;
        }, $"readiness did not recover once the mount was writable:\n{service.Output}");
        var slot = Assert.Single(await service.Client.ResultsAsync(waiting));
        Assert.Equal(("fetched", 200), (slot.State(), slot.StatusCode()));
        var fresh = await service.Client.SubmitAsync([Upstream.Url("/ok")]);
        Assert.Equal("completed", (await service.Client.WaitUntilDoneAsync(fresh))["status"]!.GetValue<string>());
    }
}
