using System.Globalization;
using System.Net;
using System.Text.Json;
using FetchApi.IntegrationTests.Upstream;

// Not FetchApi.IntegrationTests.Api: that name is taken by the Api helper class.
namespace FetchApi.IntegrationTests.ApiTests;

/// <summary>Per-client limits: a client over its budget gets 429, a <c>rate_limited</c> problem and a <c>Retry-After</c> it can obey.</summary>
public sealed class RateLimitingTests
{
    const int Burst = 3;
    const int Requests = 10;

    // A fresh service per test: token buckets are singleton state.
    static FetchApiFactory CreateFactory(string policy) => new(new Dictionary<string, string?>
    {
        [$"RateLimiting:{policy}PerSecond"] = "1",
        [$"RateLimiting:{policy}Burst"] = $"{Burst}",
    });

    static async Task AssertRateLimitedAsync(HttpResponseMessage response)
    {
        var problem = await response.ReadProblemAsync(HttpStatusCode.TooManyRequests);
        Assert.Equal("rate_limited", problem.Code());

        var retryAfter = Assert.Single(response.Headers.GetValues("Retry-After"));
        Assert.True(int.TryParse(retryAfter, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds > 0,
            $"Retry-After should be a positive number of seconds, got '{retryAfter}'");
    }

    [Fact]
    public async Task BurstOfBatchSubmissionsBeyondTheLimitIsRateLimitedWithRetryAfter()
    {
        await using var upstream = await UpstreamServer.StartAsync();
        await using var factory = CreateFactory("Create");
        using var client = factory.CreateClient();
        var body = JsonSerializer.Serialize(new { urls = new[] { upstream.Url("/ok") } });

        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? firstRejection = null;
        try
        {
            for (var i = 0; i < Requests; i++)
            {
                var response = await client.PostTextAsync("/batches", body);
                statuses.Add(response.StatusCode);
                if (response.StatusCode == HttpStatusCode.TooManyRequests && firstRejection is null)
                {
                    firstRejection = response;
                }
                else
                {
                    response.Dispose();
                }
            }

            Assert.True(statuses.Take(Burst).All(s => s == HttpStatusCode.Accepted), $"the first {Burst} should be 202: {string.Join(", ", statuses)}");
            Assert.True(statuses.All(s => s is HttpStatusCode.Accepted or HttpStatusCode.TooManyRequests), string.Join(", ", statuses));
            Assert.True(firstRejection is not null, $"no 429 in a burst of {Requests}: {string.Join(", ", statuses)}");
            await AssertRateLimitedAsync(firstRejection);
        }
        finally
        {
            firstRejection?.Dispose();
        }
    }

    [Fact]
    public async Task BurstOfReadsBeyondTheLimitIsRateLimitedWithRetryAfter()
    {
        await using var factory = CreateFactory("Api");
        using var client = factory.CreateClient();

        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? firstRejection = null;
        try
        {
            for (var i = 0; i < Requests; i++)
            {
                var response = await client.GetAsync("/batches", TestContext.Current.CancellationToken);
                statuses.Add(response.StatusCode);
                if (response.StatusCode == HttpStatusCode.TooManyRequests && firstRejection is null)
                {
                    firstRejection = response;
                }
                else
                {
                    response.Dispose();
                }
            }

            Assert.True(statuses.Take(Burst).All(s => s == HttpStatusCode.OK), $"the first {Burst} should be 200: {string.Join(", ", statuses)}");
            Assert.True(statuses.All(s => s is HttpStatusCode.OK or HttpStatusCode.TooManyRequests), string.Join(", ", statuses));
            Assert.True(firstRejection is not null, $"no 429 in a burst of {Requests}: {string.Join(", ", statuses)}");
            await AssertRateLimitedAsync(firstRejection);
        }
        finally
        {
            firstRejection?.Dispose();
        }
    }

    [Fact]
    public async Task ReadsDoNotSpendTheSubmissionBudget()
    {
        await using var upstream = await UpstreamServer.StartAsync();
        await using var factory = CreateFactory("Create");
        using var client = factory.CreateClient();

        for (var i = 0; i < Requests; i++)
        {
            using var read = await client.GetAsync("/batches", TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        }

        // The create bucket is still full: a whole burst of submissions goes through.
        for (var i = 0; i < Burst; i++)
        {
            await client.SubmitAsync([upstream.Url("/ok")]);
        }
    }
}
