namespace FetchApi.IntegrationTests.Durability;

/// <summary>
/// A stop keeps the promise <c>Engine:ShutdownTimeout</c> makes: fetches in flight get that long to finish and their
/// results are written, even when it is longer than the host's default 30 s.
/// </summary>
public sealed class ShutdownTests() : ServiceOnFileTest("shutdown")
{
    [Fact]
    public async Task AStopWithAOneMinuteShutdownTimeoutLetsAThirtyFiveSecondFetchFinishAndKeepsItsResult()
    {
        var settings = new Dictionary<string, string> { ["Engine__ShutdownTimeout"] = "00:01:00" };
        var url = Upstream.Url("/delay/35000?slow=1");
        Guid id;
        await using (var first = await ServiceProcess.StartAsync(DatabasePath, settings))
        {
            id = await first.Client.SubmitAsync([url], new { timeoutSeconds = 60 });
            await Api.EventuallyAsync(() => Upstream.InFlight() == 1, "the slow fetch never started");

            var exitCode = await first.TerminateAsync(TimeSpan.FromSeconds(90));

            Assert.True(exitCode == 0, $"exit code {exitCode}:\n{first.Output}");
        }

        await using var second = await ServiceProcess.StartAsync(DatabasePath, settings);
        var summary = await second.Client.GetJsonAsync($"/batches/{id}");
        var slot = summary["results"]![0]!.AsObject();
        // Written before the first process exited: the second one did not fetch it again.
        Assert.Equal(("completed", "fetched", 200), (summary["status"]!.GetValue<string>(), slot.State(), slot.StatusCode()));
        Assert.Equal(1, Upstream.RequestsPerUrl["/delay/35000?slow=1"]);
    }
}
