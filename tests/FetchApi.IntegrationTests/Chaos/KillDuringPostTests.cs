using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using FetchApi.IntegrationTests.Durability;

namespace FetchApi.IntegrationTests.Chaos;

/// <summary>
/// SIGKILL while clients are posting batches, at a random moment: every batch whose 202 reached its client survives
/// and completes, and a client that lost its answer and posts again with the same Idempotency-Key gets the one batch
/// the key names (whether or not the first attempt was committed), never a second one.
/// </summary>
public sealed class KillDuringPostTests() : ServiceOnFileTest("killpost")
{
    const int UrlsPerBatch = 5;

    async Task<Guid> PostAsync(HttpClient client, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/batches")
        {
            Content = JsonContent.Create(new { urls = Enumerable.Range(0, UrlsPerBatch).Select(i => Upstream.Url($"/ok?key={key}&i={i}")) }),
        };
        request.Headers.Add("Idempotency-Key", key);
        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode is HttpStatusCode.Accepted or HttpStatusCode.OK,
            $"POST with key {key}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<Guid>();
    }

    [Fact]
    public async Task AKillDuringPostsLosesNoAcceptedBatchAndARetriedKeyNeverMakesASecond()
    {
        // Key → the batch its 202 named, or null when the client never got an answer.
        var outcomes = new ConcurrentDictionary<string, Guid?>();
        await using (var first = await ServiceProcess.StartAsync(DatabasePath))
        {
            var accepted = 0;
            var killAfter = 30 + Random.Shared.Next(60);
            async Task PostUntilTheProcessDiesAsync(int client)
            {
                for (var n = 0; ; n++)
                {
                    var key = $"c{client}-{n}";
                    try
                    {
                        outcomes[key] = await PostAsync(first.Client, key);
                        Interlocked.Increment(ref accepted);
                    }
                    catch (HttpRequestException)
                    {
                        outcomes[key] = null;
                        return;
                    }
                }
            }

            var clients = Enumerable.Range(0, 4).Select(PostUntilTheProcessDiesAsync).ToArray();
            await Api.EventuallyAsync(() => Volatile.Read(ref accepted) >= killAfter, $"{killAfter} batches were not accepted:\n{first.Output}");
            await first.KillAsync();
            await Task.WhenAll(clients);
        }

        TestContext.Current.TestOutputHelper?.WriteLine(
            $"killed with {outcomes.Count(o => o.Value is not null)} batches answered and {outcomes.Count(o => o.Value is null)} posts unanswered");
        await using var second = await ServiceProcess.StartAsync(DatabasePath);
        var ids = new Dictionary<string, Guid>();
        foreach (var (key, id) in outcomes)
        {
            // Unanswered: the client posts again under the same key, as scripts/fetch-batch.sh does.
            ids[key] = id ?? await PostAsync(second.Client, key);
        }

        foreach (var (key, id) in ids)
        {
            var done = await second.Client.WaitUntilDoneAsync(id);
            Assert.True(done["status"]!.GetValue<string>() == "completed", $"batch {id} of key {key}: {done}");
            Assert.Equal(UrlsPerBatch, done["counts"]!["fetched"]!.GetValue<int>());
        }

        Assert.Equal(ids.Count, ids.Values.Distinct().Count());
        var listed = new List<Guid>();
        for (var next = "/batches?limit=100"; next is not null;)
        {
            var page = await second.Client.GetJsonAsync(next);
            listed.AddRange(page["batches"]!.AsArray().Select(b => b!["id"]!.GetValue<Guid>()));
            next = page["next"]?.GetValue<string>();
        }

        Assert.Equal(ids.Values.Order(), listed.Order());
    }
}
