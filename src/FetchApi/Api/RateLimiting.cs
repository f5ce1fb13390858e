using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using FetchApi.Security;
using FetchApi.Telemetry;
using Microsoft.Extensions.Options;

namespace FetchApi.Api;

public static class RatePolicies
{
    /// <summary><c>POST /batches</c>: each one can start thousands of fetches.</summary>
    public const string Create = "create";
    /// <summary>Every other API request.</summary>
    public const string Api = "api";
}

/// <summary>Per-client request limits (section <c>RateLimiting</c>).</summary>
public sealed class RateLimitingOptions
{
    public const string Section = "RateLimiting";

    [Range(1, 1_000_000)] public int CreatePerSecond { get; set; } = 10;
    [Range(1, 1_000_000)] public int CreateBurst { get; set; } = 20;
    [Range(1, 1_000_000)] public int ApiPerSecond { get; set; } = 100;
    [Range(1, 1_000_000)] public int ApiBurst { get; set; } = 100;
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
                await Problems.WriteAsync(http, StatusCodes.Status429TooManyRequests, "rate_limited", "Too many requests",
                    $"This client sent more requests than its limit allows; retry after {seconds} s.");
            };
        });
        return builder;
    }

    // Per client: the API key when there is one (authentication runs first), else the remote address.
    static RateLimitPartition<string> Bucket(HttpContext context, int perSecond, int burst) =>
        RateLimitPartition.GetTokenBucketLimiter(
            context.User.Owner() is { } key ? "key:" + key : "ip:" + context.Connection.RemoteIpAddress,
            _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = burst,
            TokensPerPeriod = perSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        });
}
