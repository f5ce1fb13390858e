using System.Globalization;
using FetchApi.Client;
using Microsoft.AspNetCore.WebUtilities;

namespace FetchApi.ClientTests;

/// <summary>
/// What a .NET user does with the generated client: submit, wait for the end, walk the pages of a batch. Every step goes
/// through <see cref="IFetchApiClient"/> alone, so a mismatch between the document and the service fails here as it
/// would for them; the counts invariant is checked on every read.
/// </summary>
public static class ClientSteps
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static Task<BatchDetails> SubmitAsync(this IFetchApiClient api, IEnumerable<string> urls, BatchOptionsRequest? options = null,
        string? prefer = null) =>
        api.CreateBatchAsync(new CreateBatchRequest { Urls = [.. urls], Options = options }, prefer: prefer, cancellationToken: Ct);

    /// <summary>The batch without its slots (<c>results=false</c>: cheap polling).</summary>
    public static async Task<BatchDetails> SummaryAsync(this IFetchApiClient api, Guid id)
    {
        var summary = await api.GetBatchAsync(id, results: false, cancellationToken: Ct);
        AssertCountsAddUp(summary.Counts);
        Assert.True(summary.Results is null && summary.Next is null, "results=false still returned results or next");
        return summary;
    }

    /// <summary>Polls the summary until the batch is completed or cancelled, or fails at the deadline.</summary>
    public static async Task<BatchDetails> WaitUntilEndedAsync(this IFetchApiClient api, Guid id)
    {
        var until = DateTime.UtcNow + Deadline;
        while (true)
        {
            var summary = await api.SummaryAsync(id);
            if (summary.Status is BatchStatus.Completed or BatchStatus.Cancelled)
            {
                return summary;
            }

            Assert.True(DateTime.UtcNow < until, $"batch {id} still {summary.Status} at the deadline");
            await Task.Delay(25, Ct);
        }
    }

    /// <summary>Polls <paramref name="condition"/> until it holds, or fails with <paramref name="failure"/> at the deadline.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string failure)
    {
        var until = DateTime.UtcNow + Deadline;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < until, failure);
            await Task.Delay(20, Ct);
        }
    }

    /// <summary>
    /// Every slot of the batch (of one state, if given), page by page, as the document tells a typed client to follow
    /// <c>next</c>: call again with <c>after</c> = the last result's index, until <c>next</c> is null. Checks on the way that
    /// <c>next</c> names that same page. Returns the pages as read.
    /// </summary>
    public static async Task<List<List<SlotResult>>> PagesAsync(this IFetchApiClient api, Guid id, SlotState? state, int limit)
    {
        var pages = new List<List<SlotResult>>();
        int? after = null;
        while (true)
        {
            var page = await api.GetBatchAsync(id, after: after, limit: limit, state: state, cancellationToken: Ct);
            AssertCountsAddUp(page.Counts);
            Assert.NotNull(page.Results);
            pages.Add([.. page.Results]);
            if (page.Next is null)
            {
                return pages;
            }

            Assert.True(page.Results.Count > 0 && pages.Count <= 10_000, $"batch {id}: next ({page.Next}) after an empty page");
            after = page.Results.Last().Index;
            AssertNextIsThePageAfter(page.Next, id, after.Value, limit, state);
        }
    }

    /// <summary><c>next</c> is a relative reference to the same operation with <c>after</c>, <c>limit</c> and <c>state</c> of the following page.</summary>
    static void AssertNextIsThePageAfter(string next, Guid id, int after, int limit, SlotState? state)
    {
        var uri = new Uri(new Uri("http://service.invalid/"), next);
        var query = QueryHelpers.ParseQuery(uri.Query);
        var expectedState = state?.ToString().ToLowerInvariant();
        Assert.True(
            uri.AbsolutePath == $"/batches/{id}" && query["after"] == after.ToString(CultureInfo.InvariantCulture)
            && query["limit"] == limit.ToString(CultureInfo.InvariantCulture) && query["state"] == expectedState,
            $"next is {next}; expected /batches/{id}?after={after}&limit={limit}" + (expectedState is null ? "" : $"&state={expectedState}"));
    }

    public static void AssertCountsAddUp(BatchCounts counts) =>
        Assert.True(counts.Total == counts.Pending + counts.Fetched + counts.Failed + counts.Cancelled,
            $"counts do not add up: total {counts.Total}, pending {counts.Pending}, fetched {counts.Fetched}, failed {counts.Failed}, cancelled {counts.Cancelled}");
}
