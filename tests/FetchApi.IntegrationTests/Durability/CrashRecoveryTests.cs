namespace FetchApi.IntegrationTests.Durability;

/// <summary>
/// A 202 is a promise. These tests kill the real service process in the middle of a large batch, start it again on the
/// same SQLite file, and check that every accepted batch completes with every slot reported exactly once.
/// </summary>
public sealed class CrashRecoveryTests() : ServiceOnFileTest("crash")
{
    const int Urls = 5000;
    const int Concurrency = 100;

    IEnumerable<string> BigBatch() => Enumerable.Range(0, Urls).Select(i => Upstream.Url($"/delay/20?i={i}"));

    /// <summary>Polls until at least <paramref name="fetched"/> slots are final, checking the counts on every read.</summary>
    static async Task WaitForProgressAsync(ServiceProcess service, Guid id, int fetched)
    {
        var deadline = DateTime.UtcNow + Api.DefaultDeadline;
        try
        {
            while ((await service.Client.GetJsonAsync($"/batches/{id}?results=false"))["counts"]!["fetched"]!.GetValue<int>() < fetched)
            {
                Assert.True(DateTime.UtcNow < deadline, $"batch {id} made no progress to {fetched}");
                await Task.Delay(10, TestContext.Current.CancellationToken);
            }
        }
        catch (HttpRequestException e)
        {
            Assert.Fail($"the service stopped answering ({e.Message}); its output:\n{service.Output}");
        }
    }

    static async Task AssertCompleteAndExactlyOnceAsync(HttpClient client, Guid id, int total)
    {
        var slots = await client.ResultsAsync(id);
        Assert.Equal(total, slots.Count);
        Assert.Equal(Enumerable.Range(0, total), slots.Select(s => s["index"]!.GetValue<int>()));
        Assert.All(slots, s => Assert.Equal(("fetched", 200), (s.State(), s.StatusCode())));
        var summary = await client.GetJsonAsync($"/batches/{id}?results=false");
        Assert.Equal("completed", summary["status"]!.GetValue<string>());
        Assert.Equal(total, summary["counts"]!["fetched"]!.GetValue<int>());
    }

    [Fact]
    public async Task BatchKilledTwiceMidwayCompletesWithEverySlotExactlyOnce()
    {
        Guid big;
        var small = new List<Guid>();
        await using (var first = await ServiceProcess.StartAsync(DatabasePath))
        {
            big = await first.Client.SubmitAsync(BigBatch(), new { concurrency = Concurrency });
            await WaitForProgressAsync(first, big, Urls / 3);
            // Accepted just before the crash: these must survive it too. Sent together, so that the big batch is still
            // running when the kill comes, even on a loaded machine.
            small.AddRange(await Task.WhenAll(Enumerable.Range(0, 5).Select(i => first.Client.SubmitAsync([Upstream.Url($"/delay/20?small={i}")]))));

            await first.KillAsync();
        }

        await using (var second = await ServiceProcess.StartAsync(DatabasePath))
        {
            var before = (await second.Client.GetJsonAsync($"/batches/{big}?results=false"))["counts"]!["fetched"]!.GetValue<int>();
            Assert.True(before < Urls, "the batch finished before the first kill; the test proves nothing");
            await WaitForProgressAsync(second, big, 2 * Urls / 3);
            await second.KillAsync();
        }

        await using var third = await ServiceProcess.StartAsync(DatabasePath);
        await AssertCompleteAndExactlyOnceAsync(third.Client, big, Urls);
        foreach (var id in small)
        {
            await AssertCompleteAndExactlyOnceAsync(third.Client, id, 1);
        }
    }

    [Fact]
    public async Task BatchStoppedWithSigtermResumesAndRefetchesNothingBeyondTheInFlightWindow()
    {
        Guid big;
        await using (var first = await ServiceProcess.StartAsync(DatabasePath))
        {
            big = await first.Client.SubmitAsync(BigBatch(), new { concurrency = Concurrency });
            await WaitForProgressAsync(first, big, Urls / 3);
            var exitCode = await first.TerminateAsync(TimeSpan.FromSeconds(30));
            Assert.True(exitCode == 0, $"exit code {exitCode}:\n{first.Output}");
            Assert.Contains("waiting for", first.Output, StringComparison.Ordinal); // it drained instead of dropping
        }

        await using var second = await ServiceProcess.StartAsync(DatabasePath);
        // Resumed, not started afresh (whether it is still running when first read depends on how fast the start was).
        await Api.EventuallyAsync(() => second.Output.Contains($"Resuming batch {big}", StringComparison.Ordinal),
            $"the second process did not say it resumed the batch:\n{second.Output}");
        await AssertCompleteAndExactlyOnceAsync(second.Client, big, Urls);

        var refetched = Upstream.RequestsPerUrl.Count(p => p.Key.StartsWith("/delay/20", StringComparison.Ordinal) && p.Value > 1);
        Assert.True(refetched <= Concurrency, $"{refetched} URLs were fetched more than once");
        Assert.Equal(Urls, Upstream.RequestsPerUrl.Count(p => p.Key.StartsWith("/delay/20", StringComparison.Ordinal)));
    }
}
