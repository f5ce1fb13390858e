using System.Net;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using FetchApi.IntegrationTests.Durability;

// Not FetchApi.IntegrationTests.Api: that name is taken by the Api helper class.
namespace FetchApi.IntegrationTests.ApiTests;

/// <summary>
/// docs/openapi.json is the document the service serves, checked in: clients are generated from it (tests/FetchApi.ClientTests),
/// and a change to the contract shows in review as a change to that file.
/// </summary>
public sealed class OpenApiSnapshotTests
{
    /// <summary>
    /// The served <c>servers</c> entry is the address the document was fetched from (http://localhost in-process); the
    /// snapshot names the address <c>dotnet run</c> listens on instead, so that it does not depend on the host.
    /// </summary>
    const string SnapshotServer = "http://localhost:5000";

    // Only this project: the others have no such test, and a test project that runs none fails the command.
    const string UpdateCommand = "UPDATE_OPENAPI=1 dotnet test tests/FetchApi.IntegrationTests --filter OpenApiSnapshot";

    // The file and the failure message are read by people: keep <, >, ', `, + and non-ASCII text as they are.
    static readonly JsonSerializerOptions Readable = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    static readonly JsonSerializerOptions Indented = new(Readable) { WriteIndented = true };

    static string SnapshotPath => Path.Combine(ServiceProcess.RepositoryRoot, "docs", "openapi.json");

    [Fact]
    public async Task CheckedInDocumentIsTheServedOne()
    {
        // Default settings: the document a user of the shipped service would generate a client from.
        await using var factory = new FetchApiFactory();
        using var client = factory.CreateClient();
        using var response = await client.GetAsync("/swagger/v1/swagger.json", TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"expected 200, got {(int)response.StatusCode}: {text}");

        var served = JsonNode.Parse(text)!.AsObject();
        served["servers"] = new JsonArray(new JsonObject { ["url"] = SnapshotServer });
        var snapshot = File.Exists(SnapshotPath) ? JsonNode.Parse(await File.ReadAllTextAsync(SnapshotPath, TestContext.Current.CancellationToken)) : null;

        // Compared as JSON, not as text: formatting and member order of the file do not matter, content does.
        if (JsonNode.DeepEquals(served, snapshot))
        {
            return;
        }

        if (Environment.GetEnvironmentVariable("UPDATE_OPENAPI") == "1")
        {
            await File.WriteAllTextAsync(SnapshotPath, served.ToJsonString(Indented) + "\n", TestContext.Current.CancellationToken);
            return;
        }

        Assert.Fail(snapshot is null
            ? $"{SnapshotPath} is missing. Write it with: {UpdateCommand}"
            : $"the served OpenAPI document differs from {SnapshotPath} (first difference: {FirstDifference(snapshot, served, "$")}). " +
              $"If the change is intended, update the file with: {UpdateCommand}, and review the diff: clients are generated from it.");
    }

    /// <summary>The JSON path of the first place where <paramref name="expected"/> and <paramref name="actual"/> differ.</summary>
    static string FirstDifference(JsonNode? expected, JsonNode? actual, string path)
    {
        switch (expected, actual)
        {
            case (JsonObject e, JsonObject a):
                foreach (var name in e.Select(p => p.Key).Union(a.Select(p => p.Key)))
                {
                    if (!e.ContainsKey(name) || !a.ContainsKey(name))
                    {
                        return $"{path}.{name} is {(e.ContainsKey(name) ? "gone" : "new")}";
                    }

                    if (!JsonNode.DeepEquals(e[name], a[name]))
                    {
                        return FirstDifference(e[name], a[name], $"{path}.{name}");
                    }
                }

                break;
            case (JsonArray e, JsonArray a) when e.Count == a.Count:
                for (var i = 0; i < e.Count; i++)
                {
                    if (!JsonNode.DeepEquals(e[i], a[i]))
                    {
                        return FirstDifference(e[i], a[i], $"{path}[{i}]");
                    }
                }

                break;
        }

        return $"{path}: was {expected?.ToJsonString(Readable) ?? "null"}, now {actual?.ToJsonString(Readable) ?? "null"}";
    }
}
