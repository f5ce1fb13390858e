using System.Net;
using System.Text.Json.Nodes;
using FetchApi.IntegrationTests.Contract;
using FetchApi.IntegrationTests.Upstream;

// Not FetchApi.IntegrationTests.Api: that name is taken by the Api helper class.
namespace FetchApi.IntegrationTests.ApiTests;

/// <summary>Health endpoints for orchestrators, problem details for every error, and links a curl script can follow.</summary>
public sealed class HealthAndProblemsTests(ServiceFixture fixture) : IClassFixture<ServiceFixture>
{
    readonly HttpClient _client = fixture.Client;

    async Task<JsonObject> HealthAsync(string path)
    {
        using var response = await _client.GetAsync(path, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path}: expected 200, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var health = JsonNode.Parse(text)!.AsObject();
        Assert.Equal("healthy", health["status"]?.GetValue<string>());
        return health;
    }

    [Fact]
    public async Task LivenessAnswersHealthyJson()
    {
        var health = await HealthAsync("/health/live");

        // Liveness says the process answers; it names no dependency, so a slow store cannot get the process restarted.
        Assert.True(health["checks"] is JsonObject, health.ToJsonString());
    }

    [Fact]
    public async Task ReadinessNamesTheStoreAndEngineChecks()
    {
        var health = await HealthAsync("/health/ready");

        var checks = health["checks"]!.AsObject();
        foreach (var name in new[] { "store", "engine" })
        {
            var check = checks[name] as JsonObject;
            Assert.True(check is not null, $"the readiness report does not name '{name}': {health.ToJsonString()}");
            Assert.Equal("healthy", check["status"]?.GetValue<string>());
            Assert.False(string.IsNullOrWhiteSpace(check["description"]?.GetValue<string>()));
        }
    }

    [Theory]
    [InlineData("/no-such-route")]
    [InlineData("/batches/0193a4e6-7c1e-7b4e-9a55-1c0f3e2b8d11/no-such-action")]
    [InlineData("/health/nope")]
    public async Task UnknownRouteReturnsNotFoundProblem(string path)
    {
        using var outside = ContractViolations.OutsideTheDocument("an unknown route is no operation");
        using var response = await _client.GetAsync(path, TestContext.Current.CancellationToken);
        var problem = await response.ReadProblemAsync(HttpStatusCode.NotFound);

        Assert.Equal("not_found", problem.Code());
    }

    [Fact]
    public async Task WrongMethodOnAKnownRouteReturnsMethodNotAllowedProblem()
    {
        using var outside = ContractViolations.OutsideTheDocument("PUT /batches is no operation");
        using var response = await _client.PutAsync("/batches", null, TestContext.Current.CancellationToken);
        var problem = await response.ReadProblemAsync(HttpStatusCode.MethodNotAllowed);

        Assert.Equal("method_not_allowed", problem.Code());
    }

    [Fact]
    public async Task LocationOfAnAcceptedBatchPointsAtItsStatus()
    {
        await using var upstream = await UpstreamServer.StartAsync();

        using var created = await _client.PostTextAsync("/batches", $$"""{"urls":["{{upstream.Url("/ok")}}"]}""");
        var createdText = await created.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(created.StatusCode == HttpStatusCode.Accepted, $"expected 202, got {(int)created.StatusCode}: {createdText}");
        var id = JsonNode.Parse(createdText)!["id"]!.GetValue<Guid>();
        var location = created.Headers.Location;
        Assert.NotNull(location);

        var batch = await _client.GetJsonAsync(location.ToString());

        Assert.Equal(id, batch["id"]!.GetValue<Guid>());
        Assert.Equal($"/batches/{id}", location.IsAbsoluteUri ? location.AbsolutePath : location.OriginalString);
    }
}
