using System.Globalization;
using System.Net;

namespace FetchApi.IntegrationTests.Urls;

/// <summary><c>POST /urls/check</c> has its own per-client budget (<c>RateLimiting:Check*</c>): 429 with Retry-After beyond it.</summary>
public sealed class UrlCheckRateLimitTests
{
    const int Burst = 3;
    const int Requests = 10;

    [Fact]
    public async Task BurstOfChecksBeyondTheLimitIsRateLimitedWithRetryAfterAndReadsStillPass()
    {
        // A fresh service: token buckets are singleton state.
        await using var factory = new FetchApiFactory(new Dictionary<string, string?>
        {
            ["RateLimiting:CheckPerSecond"] = "1",
            ["RateLimiting:CheckBurst"] = $"{Burst}",
            ["RateLimiting:ApiPerSecond"] = "1",
            ["RateLimiting:ApiBurst"] = $"{Burst}",
        });
        using var client = factory.CreateClient();

        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? firstRejection = null;
        try
        {
            for (var i = 0; i < Requests; i++)
            {
                var response = await client.PostAsJsonAsync("/urls/check", new { urls = new[] { $"http://127.0.0.1/{i}" } },
                    TestContext.Current.CancellationToken);
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

            var problem = await firstRejection.ReadProblemAsync(HttpStatusCode.TooManyRequests);
            Assert.Equal("rate_limited", problem.Code());
            var retryAfter = Assert.Single(firstRejection.Headers.GetValues("Retry-After"));
            Assert.True(int.TryParse(retryAfter, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds > 0,
                $"Retry-After should be a positive number of seconds, got '{retryAfter}'");
        }
        finally
        {
            firstRejection?.Dispose();
        }

        // Checks spent their own budget, not the one of other requests.
        using var read = await client.GetAsync("/batches", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
    }
}
