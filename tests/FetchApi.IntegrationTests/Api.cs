using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FetchApi.IntegrationTests;

/// <summary>What a client does with the API: submit, poll until done, read slots. Checks the counts invariant on every read.</summary>
public static class Api
{
    public static readonly TimeSpan DefaultDeadline = TimeSpan.FromSeconds(60);

    public static async Task<Guid> SubmitAsync(this HttpClient client, IEnumerable<string> urls, object? options = null, object? callback = null)
    {
        using var response = await client.PostAsJsonAsync("/batches", new { urls, options, callback }, TestContext.Current.CancellationToken);
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"expected 202, got {(int)response.StatusCode}: {body}");
        return JsonNode.Parse(body)!["id"]!.GetValue<Guid>();
    }

    public static async Task<JsonObject> GetJsonAsync(this HttpClient client, string url)
    {
        using var response = await client.GetAsync(url, TestContext.Current.CancellationToken);
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {url}: expected 200, got {(int)response.StatusCode}: {body}");
        var json = JsonNode.Parse(body)!.AsObject();
        if (json["counts"] is JsonObject counts)
        {
            AssertCountsAddUp(counts);
        }

        return json;
    }

    public static void AssertCountsAddUp(JsonObject counts)
    {
        int N(string name) => counts[name]!.GetValue<int>();
        Assert.True(N("total") == N("pending") + N("fetched") + N("failed") + N("cancelled"), $"counts do not add up: {counts.ToJsonString()}");
    }

    /// <summary>Polls <paramref name="condition"/> until it holds, or fails with <paramref name="failure"/> at the deadline.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string failure, TimeSpan? deadline = null)
    {
        var until = DateTime.UtcNow + (deadline ?? DefaultDeadline);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < until, failure);
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }

    public static Task EventuallyAsync(Func<bool> condition, string failure, TimeSpan? deadline = null) =>
        EventuallyAsync(() => Task.FromResult(condition()), failure, deadline);

    /// <summary>Polls the summary until the batch is completed or cancelled, or fails at the deadline.</summary>
    public static async Task<JsonObject> WaitUntilDoneAsync(this HttpClient client, Guid id, TimeSpan? deadline = null)
    {
        var until = DateTime.UtcNow + (deadline ?? DefaultDeadline);
        while (true)
        {
            var summary = await client.GetJsonAsync($"/batches/{id}?results=false");
            var status = summary["status"]!.GetValue<string>();
            if (status is "completed" or "cancelled")
            {
                Assert.Equal(0, status == "completed" ? summary["counts"]!["pending"]!.GetValue<int>() : 0);
                return summary;
            }

            Assert.True(DateTime.UtcNow < until, $"batch {id} still {status} at the deadline: {summary.ToJsonString()}");
            await Task.Delay(25, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>Waits for the batch to end and returns its slots, all pages, in order.</summary>
    public static async Task<List<JsonObject>> ResultsAsync(this HttpClient client, Guid id, TimeSpan? deadline = null)
    {
        await client.WaitUntilDoneAsync(id, deadline);
        var slots = new List<JsonObject>();
        for (var next = $"/batches/{id}"; next is not null;)
        {
            var page = await client.GetJsonAsync(next);
            slots.AddRange(page["results"]!.AsArray().Select(s => s!.AsObject()));
            next = page["next"]?.GetValue<string>();
        }

        return slots;
    }

    public static string State(this JsonObject slot) => slot["state"]!.GetValue<string>();

    public static string? ErrorCode(this JsonObject slot) => slot["error"]?["code"]?.GetValue<string>();

    public static int? StatusCode(this JsonObject slot) => slot["response"]?["statusCode"]?.GetValue<int>();

    public static int Attempts(this JsonObject slot) => slot["attempts"]!.GetValue<int>();

    public static async Task<(HttpStatusCode Status, JsonObject? Body, HttpResponseMessage Response)> PostRawAsync(
        this HttpClient client, string path, string body, string contentType = "application/json")
    {
        var response = await client.PostAsync(path, new StringContent(body, System.Text.Encoding.UTF8, contentType),
            TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        JsonObject? json = null;
        try
        {
            json = text.Length == 0 ? null : JsonNode.Parse(text) as JsonObject;
        }
        catch (JsonException)
        {
        }

        return (response.StatusCode, json, response);
    }
}
