using System.Text.Json;
using FetchApi.Batches;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace FetchApi.Api;

/// <summary>
/// RFC 9457 problem details for every error. Each carries a stable <c>code</c> extension that clients can switch on
/// (<c>validation_failed</c>, <c>not_found</c>, <c>rate_limited</c>, ...), beside the standard <c>type</c> and <c>status</c>.
/// </summary>
public static class Problems
{
    public static ProblemHttpResult Create(int status, string code, string title, string detail) =>
        TypedResults.Problem(detail, statusCode: status, title: title, extensions: new Dictionary<string, object?> { ["code"] = code });

    public static ProblemHttpResult NotFound(Guid id) =>
        Create(StatusCodes.Status404NotFound, "not_found", "No such batch", $"There is no batch {id} (it may have been deleted or expired).");

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
        var maxBody = app.Services.GetRequiredService<IOptions<BatchLimits>>().Value.MaxRequestBodyBytes;
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

/// <summary>The store cannot take writes (locked, disk full, read-only): 503 with Retry-After, so clients come back.</summary>
sealed class StoreUnavailableExceptionHandler : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not FetchApi.Storage.StoreUnavailableException)
        {
            return false;
        }

        httpContext.Response.Headers.RetryAfter = "5";
        return await Problems.WriteAsync(httpContext, StatusCodes.Status503ServiceUnavailable, "store_unavailable",
            "The store cannot accept writes right now", "Nothing was stored. Retry after 5 s.", exception);
    }
}

/// <summary>Malformed JSON, wrong types, unknown fields, wrong content type, oversized body: 4xx problems, never 500.</summary>
sealed class BadRequestExceptionHandler(IProblemDetailsService problems) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not BadHttpRequestException bad)
        {
            return false;
        }

        var status = bad.StatusCode;
        var problem = new HttpValidationProblemDetails { Status = status };
        switch (status)
        {
            case StatusCodes.Status413PayloadTooLarge:
                problem.Title = "The request body is too large";
                problem.Detail = bad.Message;
                break;
            case StatusCodes.Status415UnsupportedMediaType:
                problem.Title = "The request body must be JSON";
                problem.Detail = "Send the body with 'Content-Type: application/json'.";
                break;
            default:
                var json = FindJsonException(exception);
                problem.Title = json is null ? "The request could not be read" : "The request body is not valid JSON for this endpoint";
                problem.Detail = json?.Message ?? bad.Message;
                problem.Extensions["code"] = json is null ? "bad_request" : "malformed_json";
                var field = json?.Path is { Length: > 1 } path ? path.TrimStart('$').TrimStart('.') : "body";
                problem.Errors[field.Length == 0 ? "body" : field] = [Describe(json, bad)];
                break;
        }

        httpContext.Response.StatusCode = status;
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = httpContext, ProblemDetails = problem, Exception = exception });
    }

    static JsonException? FindJsonException(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is JsonException json)
            {
                return json;
            }
        }

        return null;
    }

    static string Describe(JsonException? json, BadHttpRequestException bad) => json?.Message switch
    {
        null => bad.Message,
        var m when m.Contains("could not be converted", StringComparison.Ordinal) => "has the wrong JSON type for this field.",
        var m when m.Contains("could not be mapped", StringComparison.Ordinal) => "is not a known field.",
        var m when m.Contains("maximum configured depth", StringComparison.Ordinal) => "is nested too deeply.",
        _ => "is not valid JSON here.",
    };
}
