using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace FetchApi.Http;

public static class ServerLimitsExtensions
{
    public static WebApplicationBuilder AddFetchServerLimits(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<ServerLimitsOptions>(ServerLimitsOptions.Section);
        builder.Services.AddOptions<KestrelServerOptions>().Configure<IOptions<ServerLimitsOptions>, IOptions<RequestLimits>>((k, server, request) =>
        {
            var limits = server.Value;
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = request.Value.MaxBodyBytes;
            k.Limits.RequestHeadersTimeout = limits.RequestHeadersTimeout;
            k.Limits.KeepAliveTimeout = limits.KeepAliveTimeout;
            k.Limits.MaxRequestHeadersTotalSize = limits.MaxRequestHeadersTotalSize;
            k.Limits.MinRequestBodyDataRate = new MinDataRate(limits.MinRequestBodyBytesPerSecond, limits.MinDataRateGracePeriod);
            k.Limits.MaxConcurrentConnections = limits.MaxConcurrentConnections > 0 ? limits.MaxConcurrentConnections : null;
        });
        return builder;
    }

    /// <summary>
    /// Every POST's body must arrive within <c>Server:PostTimeout</c> of the request's start: a client trickling a
    /// body just above Kestrel's minimum data rate cannot hold a request for hours. The body is read here, whole (it is
    /// bounded by the body size limit, and the handlers read it whole anyway), under that deadline; on expiry the answer
    /// is a 408 problem and the handler never runs. What a handler does with a complete body has its own bounds
    /// (<c>Prefer: wait</c> at most 60 s).
    /// </summary>
    public static WebApplication UseFetchServerLimits(this WebApplication app)
    {
        var timeout = app.Services.GetRequiredService<IOptions<ServerLimitsOptions>>().Value.PostTimeout;
        app.Use(async (context, next) =>
        {
            if (!HttpMethods.IsPost(context.Request.Method) || context.Request.ContentLength == 0)
            {
                await next(context);
                return;
            }

            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
            deadline.CancelAfter(timeout);
            var body = new MemoryStream();
            try
            {
                await context.Request.Body.CopyToAsync(body, deadline.Token);
            }
            catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
            {
                await Problems.WriteAsync(context, ProblemCode.RequestTimeout, "The request took too long",
                    $"The request body did not arrive within {timeout.TotalSeconds:0} s (Server:PostTimeout); send it again, faster.");
                await body.DisposeAsync();
                return;
            }

            body.Position = 0;
            context.Request.Body = body;
            try
            {
                await next(context);
            }
            finally
            {
                await body.DisposeAsync();
            }
        });
        return app;
    }

    /// <summary>POST endpoints of this builder document the 408 of <see cref="UseFetchServerLimits"/>.</summary>
    public static TBuilder WithPostTimeout<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.ProducesProblems(StatusCodes.Status408RequestTimeout);
}
