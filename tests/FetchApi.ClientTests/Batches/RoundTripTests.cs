using System.Text.Json;
using FetchApi.Client;
using FetchApi.IntegrationTests.Upstream;

namespace FetchApi.ClientTests.Batches;

/// <summary>
/// The README's round trip through the client generated from docs/openapi.json: submit, wait, page, export, list, cancel, delete.
/// Every URL is on the loopback upstream.
/// </summary>
public sealed class RoundTripTests(GeneratedClientFixture service) : IClassFixture<GeneratedClientFixture>
{
    readonly IFetchApiClient _api = service.Api;
    readonly UpstreamServer _upstream = service.Upstream;

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SubmittingAnswersWithTheTypedBatchAndItsCounts()
    {
        var urls = Enumerable.Range(0, 3).Select(i => _upstream.Url($"/delay/100?submit={i}")).ToList();

        var batch = await _api.SubmitAsync(urls);

        Assert.NotEqual(Guid.Empty, batch.Id);
        Assert.Contains(batch.Status, new[] { BatchStatus.Queued, BatchStatus.Running, BatchStatus.Completed });
        Assert.Equal(3, batch.Counts.Total);
        ClientSteps.AssertCountsAddUp(batch.Counts);
        Assert.Null(batch.Results); // 202: the batch, without results
        Assert.Null(batch.Next);

        var ended = await _api.WaitUntilEndedAsync(batch.Id);
        Assert.Equal(BatchStatus.Completed, ended.Status);
        Assert.Equal((3, 0, 0), (ended.Counts.Fetched, ended.Counts.Failed, ended.Counts.Pending));
    }

    [Fact]
    public async Task PreferWaitAnswersWithEveryResultTyped()
    {
        string[] urls = [_upstream.Url("/ok?wait=1"), _upstream.Url("/status/404?wait=1"), $"http://127.0.0.1:{UpstreamServer.ClosedPort()}/wait"];

        var batch = await _api.SubmitAsync(urls, new BatchOptionsRequest { MaxAttempts = 1 }, prefer: "wait=10");

        Assert.Equal(BatchStatus.Completed, batch.Status);
        Assert.Equal((3, 2, 1, 0, 0), (batch.Counts.Total, batch.Counts.Fetched, batch.Counts.Failed, batch.Counts.Pending, batch.Counts.Cancelled));
        Assert.NotNull(batch.Results);
        var slots = batch.Results.ToList();
        Assert.Equal([0, 1, 2], slots.Select(s => s.Index));
        Assert.Equal(urls, slots.Select(s => s.Url));
        Assert.Equal([SlotState.Fetched, SlotState.Fetched, SlotState.Failed], slots.Select(s => s.State));
        Assert.Equal([200, 404], slots.Take(2).Select(s => s.Response?.StatusCode));
        Assert.Equal(FetchErrorCode.Connection_refused, slots[2].Error?.Code);
        Assert.Null(batch.Next);
    }

    [Fact]
    public async Task WalkingNextOfAFilteredBatchReturnsEachSlotOfThatStateOnceInOrder()
    {
        // Every third URL is refused (failed), the others answer (fetched): 10 failed, 20 fetched.
        var closed = UpstreamServer.ClosedPort();
        var urls = Enumerable.Range(0, 30).Select(i => i % 3 == 0 ? $"http://127.0.0.1:{closed}/page?i={i}" : _upstream.Url($"/ok?page={i}")).ToList();
        var submitted = await _api.SubmitAsync(urls, new BatchOptionsRequest { MaxAttempts = 1 });
        await _api.WaitUntilEndedAsync(submitted.Id);

        var failedPages = await _api.PagesAsync(submitted.Id, SlotState.Failed, limit: 3);
        var fetchedPages = await _api.PagesAsync(submitted.Id, SlotState.Fetched, limit: 7);

        Assert.Equal([3, 3, 3, 1], failedPages.Select(p => p.Count));
        var failed = failedPages.SelectMany(p => p).ToList();
        Assert.Equal(Enumerable.Range(0, 10).Select(i => 3 * i), failed.Select(s => s.Index));
        Assert.All(failed, s => Assert.Equal((SlotState.Failed, FetchErrorCode.Connection_refused), (s.State, s.Error?.Code)));

        Assert.Equal([7, 7, 6], fetchedPages.Select(p => p.Count));
        var fetched = fetchedPages.SelectMany(p => p).ToList();
        Assert.Equal(Enumerable.Range(0, 30).Where(i => i % 3 != 0), fetched.Select(s => s.Index));
        Assert.All(fetched, s => Assert.Equal((SlotState.Fetched, 200), (s.State, s.Response?.StatusCode)));
    }

    [Fact]
    public async Task ExportingResultsStreamsOneTypedSlotPerLine()
    {
        string[] urls = [_upstream.Url("/ok?export=0"), $"http://127.0.0.1:{UpstreamServer.ClosedPort()}/export", _upstream.Url("/status/500?export=2")];
        var batch = await _api.SubmitAsync(urls, new BatchOptionsRequest { MaxAttempts = 1 }, prefer: "wait=10");
        Assert.Equal(BatchStatus.Completed, batch.Status);

        var all = await ExportAsync(batch.Id, state: null);
        var failed = await ExportAsync(batch.Id, SlotState.Failed);

        Assert.Equal([(0, SlotState.Fetched), (1, SlotState.Failed), (2, SlotState.Fetched)], all.Select(s => (s.Index, s.State)));
        Assert.Equal(urls, all.Select(s => s.Url));
        Assert.Equal((FetchErrorCode.Connection_refused, 500), (all[1].Error?.Code, all[2].Response?.StatusCode));
        Assert.Equal([1], failed.Select(s => s.Index));
    }

    /// <summary>The NDJSON export as the generated client hands it over (the open response), one SlotResult per line.</summary>
    async Task<List<SlotResult>> ExportAsync(Guid id, SlotState? state)
    {
        using var export = await _api.ExportResultsAsync(id, state, Ct);
        Assert.Equal(200, export.StatusCode);
        using var reader = new StreamReader(export.Stream);
        var slots = new List<SlotResult>();
        while (await reader.ReadLineAsync(Ct) is { } line)
        {
            if (line.Length > 0)
            {
                slots.Add(JsonSerializer.Deserialize<SlotResult>(line) ?? throw new InvalidDataException($"not a slot: {line}"));
            }
        }

        return slots;
    }

    [Fact]
    public async Task ListingByStatusReturnsOnlyBatchesInThatStatus()
    {
        var batch = await _api.SubmitAsync([_upstream.Url("/ok?list=1")], prefer: "wait=10");
        Assert.Equal(BatchStatus.Completed, batch.Status);

        var completed = await _api.ListBatchesAsync(status: BatchStatus.Completed, limit: 100, cancellationToken: Ct);

        Assert.Contains(batch.Id, completed.Batches!.Select(b => b.Id));
        Assert.All(completed.Batches!, b => Assert.Equal(BatchStatus.Completed, b.Status));
    }

    [Fact]
    public async Task CancellingARunningBatchCancelsWhatHasNotFinished()
    {
        var group = $"cancel-{Guid.NewGuid():N}";
        var urls = new[] { _upstream.Url($"/ok?group={group}") }.Concat(Enumerable.Range(0, 4).Select(i => _upstream.Url($"/hang?group={group}&i={i}")));
        var batch = await _api.SubmitAsync(urls, new BatchOptionsRequest { Concurrency = 2, TimeoutSeconds = 60 });
        await ClientSteps.EventuallyAsync(
            async () => _upstream.InFlight(group) >= 1 && (await _api.SummaryAsync(batch.Id)).Counts.Fetched >= 1,
            "the batch never got going");

        var cancelled = await _api.CancelBatchAsync(batch.Id, Ct);

        Assert.Equal(BatchStatus.Cancelled, cancelled.Status);
        Assert.Equal((5, 1, 4, 0), (cancelled.Counts.Total, cancelled.Counts.Fetched, cancelled.Counts.Cancelled, cancelled.Counts.Pending));
        ClientSteps.AssertCountsAddUp(cancelled.Counts);
        var slots = (await _api.PagesAsync(batch.Id, state: null, limit: 100)).SelectMany(p => p).ToList();
        Assert.Equal([SlotState.Fetched, SlotState.Cancelled, SlotState.Cancelled, SlotState.Cancelled, SlotState.Cancelled], slots.Select(s => s.State));
        await ClientSteps.EventuallyAsync(() => Task.FromResult(_upstream.InFlight(group) == 0), "fetches in flight were not aborted");
    }

    [Fact]
    public async Task DeletingABatchMakesItUnknown()
    {
        var batch = await _api.SubmitAsync([_upstream.Url("/ok?delete=1")], prefer: "wait=10");

        await _api.DeleteBatchAsync(batch.Id, Ct);

        var gone = await Assert.ThrowsAsync<ApiException<Problem>>(() => _api.GetBatchAsync(batch.Id, cancellationToken: Ct));
        Assert.Equal((404, ProblemCode.Not_found), (gone.StatusCode, gone.Result.Code));
        var again = await Assert.ThrowsAsync<ApiException<Problem>>(() => _api.DeleteBatchAsync(batch.Id, Ct));
        Assert.Equal((404, ProblemCode.Not_found), (again.StatusCode, again.Result.Code));
    }
}
