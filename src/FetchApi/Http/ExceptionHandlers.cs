using System.Text.Json;
using FetchApi.Model;
using Microsoft.AspNetCore.Diagnostics;

namespace FetchApi.Http;

/// <summary>The store cannot take writes (locked, disk full, read-only): 503 with Retry-After, so clients come back.</summary>
sealed class StoreUnavailableExceptionHandler : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not StoreUnavailableException)
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
