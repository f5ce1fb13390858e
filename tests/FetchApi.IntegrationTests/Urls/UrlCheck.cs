using System.Net;
using System.Text.Json.Nodes;

namespace FetchApi.IntegrationTests.Urls;

/// <summary>What a client does with <c>POST /urls/check</c>. Every URL the tests send is loopback or <c>localhost</c>.</summary>
static class UrlCheck
{
    public static async Task<JsonObject> CheckAsync(this HttpClient client, object body)
    {
        using var response = await client.PostAsJsonAsync("/urls/check", body, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"expected 200, got {(int)response.StatusCode}: {text}");
        var report = JsonNode.Parse(text)!.AsObject();
        var counts = report["counts"]!;
        int N(string name) => counts[name]!.GetValue<int>();
        Assert.True(N("total") == N("allowed") + N("blocked") + N("invalid"), $"counts do not add up: {counts.ToJsonString()}");
        Assert.Equal(N("total"), report["results"]!.AsArray().Count);
        return report;
    }

    public static async Task<List<JsonObject>> CheckUrlsAsync(this HttpClient client, IEnumerable<string?> urls, bool? resolve = null) =>
        [.. (await client.CheckAsync(new { urls, resolve }))["results"]!.AsArray().Select(r => r!.AsObject())];

    public static string Verdict(this JsonObject check) => check["verdict"]!.GetValue<string>();

    public static string Reason(this JsonObject check) => check["reason"]!.GetValue<string>();

    public static string? Normalized(this JsonObject check) => check["normalized"]?.GetValue<string>();

    public static int? DuplicateOf(this JsonObject check) => check["duplicateOf"]?.GetValue<int>();

    public static IReadOnlyList<string>? Addresses(this JsonObject check) =>
        check["addresses"] is JsonArray addresses ? [.. addresses.Select(a => a!.GetValue<string>())] : null;
}
