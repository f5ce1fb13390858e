using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace FetchApi.Http;

/// <summary>
/// RFC 9457 problem details for every error. Each carries a stable <c>code</c> extension that clients can switch on
/// (<c>validation_failed</c>, <c>not_found</c>, <c>rate_limited</c>, ...), beside the standard <c>type</c> and <c>status</c>.
/// </summary>
public static class Problems
{
    public static ProblemHttpResult Create(int status, string code, string title, string detail) =>
        TypedResults.Problem(detail, statusCode: status, title: title, extensions: new Dictionary<string, object?> { ["code"] = code });

    public static ProblemHttpResult NotFound(string title, string detail) => Create(StatusCodes.Status404NotFound, "not_found", title, detail);

    public static ValidationProblem Validation(Dictionary<string, string[]> errors) =>
        TypedResults.ValidationProblem(errors, title: "The request has invalid fields",
            extensions: new Dictionary<string, object?> { ["code"] = "validation_failed" });

    /// <summary>
    /// Writes a problem response where no typed result can be returned (exception handlers, authentication challenges,
    /// the rate limiter's rejection callback).
    /// </summary>
    public static ValueTask<bool> WriteAsync(HttpContext http, int status, string code, string title, string detail, Exception? exception = null)
    {
        http.Response.StatusCode = status;
        return http.RequestServices.GetRequiredService<IProblemDetailsService>().TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            Exception = exception,
            ProblemDetails = new ProblemDetails { Status = status, Title = title, Detail = detail, Extensions = { ["code"] = code } },
        });
    }

    static string CodeFor(int status) => status switch
    {
        400 => "bad_request",
        401 => "unauthorized",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "unprocessable",
        429 => "rate_limited",
        503 => "unavailable",
        >= 500 => "internal_error",
        _ => "error",
    };

    public static WebApplicationBuilder AddFetchProblemDetails(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<RequestLimits>();
        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = context =>
        {
            var problem = context.ProblemDetails;
            problem.Extensions.TryAdd("code", CodeFor(problem.Status ?? context.HttpContext.Response.StatusCode));
            problem.Instance ??= context.HttpContext.Request.Path;
        });
        builder.Services.AddExceptionHandler<BadRequestExceptionHandler>();
        builder.Services.AddExceptionHandler<StoreUnavailableExceptionHandler>();
        // Binding failures throw, so that the handler below can say which field was wrong instead of an empty 400.
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        return builder;
    }

    /// <summary>Problem details for every error response: exceptions, bare status codes, oversized bodies.</summary>
    public static WebApplication UseFetchProblemDetails(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        var maxBody = app.Services.GetRequiredService<IOptions<RequestLimits>>().Value.MaxBodyBytes;
        app.Use(async (context, next) =>
        {
            // Kestrel enforces the limit on the socket; this answers early, and in hosts without Kestrel too.
            if (context.Request.ContentLength > maxBody)
            {
                throw new BadHttpRequestException($"The request body is {context.Request.ContentLength} bytes; at most {maxBody} are accepted.",
                    StatusCodes.Status413PayloadTooLarge);
            }

            await next(context);
        });
        return app;
    }
}
