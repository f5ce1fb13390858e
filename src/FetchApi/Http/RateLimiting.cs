using System.Globalization;
using System.Threading.RateLimiting;
using FetchApi.Telemetry;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace FetchApi.Http;

public static class RatePolicies
{
    /// <summary><c>POST /batches</c>: each one can start thousands of fetches.</summary>
    public const string Create = "create";
    /// <summary><c>POST /urls/check</c>: up to a batch of URLs judged, and with <c>resolve</c> as many DNS lookups.</summary>
    public const string Check = "check";
    /// <summary>Every other API request.</summary>
    public const string Api = "api";
}

public static class RateLimitingExtensions
{
    public static WebApplicationBuilder AddFetchRateLimiting(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<RateLimitingOptions>(RateLimitingOptions.Section);

        builder.Services.AddRateLimiter(limiter =>
        {
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.AddPolicy(RatePolicies.Create, context =>
            {
                var o = context.RequestServices.GetRequiredService<IOptions<RateLimitingOptions>>().Value;
                return Bucket(context, o.CreatePerSecond, o.CreateBurst);
            });
            limiter.AddPolicy(RatePolicies.Check, context =>
            {
                var o = context.RequestServices.GetRequiredService<IOptions<RateLimitingOptions>>().Value;
                return Bucket(context, o.CheckPerSecond, o.CheckBurst);
            });
            limiter.AddPolicy(RatePolicies.Api, context =>
            {
                var o = context.RequestServices.GetRequiredService<IOptions<RateLimitingOptions>>().Value;
                return Bucket(context, o.ApiPerSecond, o.ApiBurst);
            });
            limiter.OnRejected = async (context, cancellationToken) =>
            {
                var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
                var seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
                var http = context.HttpContext;
                http.RequestServices.GetRequiredService<FetchMetrics>().RateLimited(
                    http.GetEndpoint()?.Metadata.GetMetadata<EnableRateLimitingAttribute>()?.PolicyName);
                http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
                await Problems.WriteAsync(http, ProblemCode.RateLimited, "Too many requests",
                    $"This client sent more requests than its limit allows; retry after {seconds} s.");
            };
        });
        return builder;
    }

    // Per client: the authenticated client (API key name) when there is one (authentication runs first), else the remote address.
    static RateLimitPartition<string> Bucket(HttpContext context, int perSecond, int burst) =>
        RateLimitPartition.GetTokenBucketLimiter(
            context.User.Identity is { IsAuthenticated: true, Name: { } client } ? "key:" + client : "ip:" + context.Connection.RemoteIpAddress,
            _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = burst,
            TokensPerPeriod = perSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        });
}
