using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using FetchApi.IntegrationTests.Upstream;

namespace FetchApi.IntegrationTests.Security;

/// <summary>Two clients with their own keys: each sees only its own batches, and each has its own rate limit.</summary>
public sealed class ApiKeyTests : IAsyncLifetime
{
    const string AliceKey = "alice-key-0123456789";
    const string BobKey = "bob-key-9876543210xx";

    readonly FetchApiFactory _factory = new(new Dictionary<string, string?>
    {
        ["Security:ApiKeys:0:Name"] = "alice",
        ["Security:ApiKeys:0:Key"] = AliceKey,
        ["Security:ApiKeys:1:Name"] = "bob",
        ["Security:ApiKeys:1:Key"] = BobKey,
        ["RateLimiting:CreatePerSecond"] = "1",
        ["RateLimiting:CreateBurst"] = "3",
    });

    UpstreamServer _upstream = null!;

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _upstream = await UpstreamServer.StartAsync();

    public async ValueTask DisposeAsync()
    {
        await _factory.DisposeAsync();
        if (_upstream is not null)
        {
            await _upstream.DisposeAsync();
        }
    }

    HttpClient Client(string? key)
    {
        var client = _factory.CreateClient();
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return client;
    }

    [Theory]
    [InlineData(null)]
    [InlineData("not-a-configured-key-at-all")]
    [InlineData("alice-key-012345678")]
    public async Task RequestWithoutAValidKeyIs401WithAProblem(string? key)
    {
        using var client = Client(key);
        foreach (var (method, path) in new[] { ("GET", "/batches"), ("POST", "/batches"), ("GET", $"/batches/{Guid.NewGuid()}") })
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path);
            if (method == "POST")
            {
                request.Content = JsonContent.Create(new { urls = new[] { _upstream.Url("/ok") } });
            }

            using var response = await client.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!;
            Assert.Equal("unauthorized", body["code"]!.GetValue<string>());
        }

        Assert.Equal(0, _upstream.Requests);
    }

    [Fact]
    public async Task HealthAndSwaggerNeedNoKey()
    {
        using var client = Client(null);
        foreach (var path in new[] { "/health/live", "/health/ready", "/swagger/v1/swagger.json", "/swagger/index.html" })
        {
            using var response = await client.GetAsync(path, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    [Fact]
    public async Task AnotherKeyCannotSeeOrTouchABatch()
    {
        using var alice = Client(AliceKey);
        using var bob = Client(BobKey);
        var id = await alice.SubmitAsync([_upstream.Url("/ok")]);
        await alice.WaitUntilDoneAsync(id);

        foreach (var path in new[] { $"/batches/{id}", $"/batches/{id}?results=false", $"/batches/{id}/events" })
        {
            using var response = await bob.GetAsync(path, Ct);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        using (var cancel = await bob.PostAsync($"/batches/{id}/cancel", null, Ct))
        {
            Assert.Equal(HttpStatusCode.NotFound, cancel.StatusCode);
        }

        using (var delete = await bob.DeleteAsync($"/batches/{id}", Ct))
        {
            Assert.Equal(HttpStatusCode.NotFound, delete.StatusCode);
        }

        Assert.Empty((await bob.GetJsonAsync("/batches"))["batches"]!.AsArray());
        Assert.Equal([id], (await alice.GetJsonAsync("/batches"))["batches"]!.AsArray().Select(b => b!["id"]!.GetValue<Guid>()));
        Assert.Equal("completed", (await alice.GetJsonAsync($"/batches/{id}?results=false"))["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task RateLimitsArePerKey()
    {
        using var alice = Client(AliceKey);
        using var bob = Client(BobKey);
        var body = new { urls = new[] { _upstream.Url("/ok") } };

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++)
        {
            using var response = await alice.PostAsJsonAsync("/batches", body, Ct);
            statuses.Add(response.StatusCode);
        }

        Assert.Contains(HttpStatusCode.TooManyRequests, statuses);
        using var bobs = await bob.PostAsJsonAsync("/batches", body, Ct);
        Assert.Equal(HttpStatusCode.Accepted, bobs.StatusCode); // alice's burst did not spend bob's budget
    }
}
