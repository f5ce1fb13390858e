using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace FetchApi.IntegrationTests;

/// <summary>What a client checks on an error: an RFC 9457 problem with the expected status, a stable <c>code</c> and per-field errors.</summary>
public static class ProblemAssertions
{
    public const string ProblemJson = "application/problem+json";

    /// <summary>Posts <paramref name="body"/> as is (no serialization), so that tests can send exactly the bytes a careless client would.</summary>
    public static async Task<HttpResponseMessage> PostTextAsync(this HttpClient client, string path, string body, string contentType = "application/json")
    {
        using var content = new StringContent(body, Encoding.UTF8, contentType);
        return await client.PostAsync(path, content, TestContext.Current.CancellationToken);
    }

    /// <summary>Asserts that <paramref name="response"/> is a problem of status <paramref name="expected"/> and returns its body.</summary>
    public static async Task<JsonObject> ReadProblemAsync(this HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == expected,
            $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri?.PathAndQuery}: expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        Assert.True(response.Content.Headers.ContentType?.MediaType == ProblemJson,
            $"expected Content-Type {ProblemJson}, got '{response.Content.Headers.ContentType}': {text}");
        var problem = JsonNode.Parse(text) as JsonObject;
        Assert.True(problem is not null, $"the problem body is not a JSON object: {text}");
        Assert.Equal((int)expected, problem["status"]?.GetValue<int>());
        Assert.False(string.IsNullOrWhiteSpace(problem["title"]?.GetValue<string>()), $"the problem has no title: {text}");
        return problem;
    }

    /// <summary>The stable error code clients switch on.</summary>
    public static string? Code(this JsonObject problem) => problem["code"]?.GetValue<string>();

    /// <summary>The field names of <c>errors</c>, sorted; empty when there is no <c>errors</c> member.</summary>
    public static IReadOnlyList<string> ErrorKeys(this JsonObject problem) =>
        problem["errors"] is JsonObject errors ? [.. errors.Select(e => e.Key).Order(StringComparer.Ordinal)] : [];

    /// <summary>Asserts that the problem's <c>errors</c> name exactly <paramref name="fields"/>, each with at least one message.</summary>
    public static void AssertErrorsName(this JsonObject problem, params string[] fields)
    {
        Assert.True(problem.ErrorKeys().SequenceEqual(fields.Order(StringComparer.Ordinal)),
            $"expected errors for [{string.Join(", ", fields)}], got: {problem.ToJsonString()}");
        foreach (var field in fields)
        {
            var messages = problem["errors"]![field]!.AsArray();
            Assert.NotEmpty(messages);
            Assert.All(messages, m => Assert.False(string.IsNullOrWhiteSpace(m?.GetValue<string>())));
        }
    }
}
