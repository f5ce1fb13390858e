using System.Text.Json;
using FetchApi.Model;
using Microsoft.AspNetCore.Diagnostics;

namespace FetchApi.Http;

/// <summary>The store cannot take writes (locked, disk full, read-only): 503 with Retry-After, so clients come back.</summary>
sealed class StoreUnavailableExceptionHandler : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not StoreUnavailableException unavailable)
        {
            return false;
        }

        // Why, in words a client may read (no paths): whether retrying soon can help.
        var why = unavailable.Fault switch
        {
            StoreFault.DiskFull => "The service's disk is full; deleting and cancelling batches still work. ",
            StoreFault.ReadOnly => "The service may not write its database file. ",
            StoreFault.Lost => "The service's database file was removed or replaced; an operator must restore it. ",
            _ => "",
        };
        httpContext.Response.Headers.RetryAfter = "5";
        return await Problems.WriteAsync(httpContext, ProblemCode.StoreUnavailable,
            "The store cannot accept writes right now", $"{why}Nothing was stored. Retry after 5 s.", exception);
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
                problem.Extensions["code"] = ProblemTypes.Name(ProblemCode.PayloadTooLarge);
                break;
            case StatusCodes.Status415UnsupportedMediaType:
                problem.Title = "The request body must be JSON";
                problem.Detail = "Send the body with 'Content-Type: application/json'.";
                problem.Extensions["code"] = ProblemTypes.Name(ProblemCode.UnsupportedMediaType);
                break;
            case StatusCodes.Status408RequestTimeout:
                problem.Title = "The request took too long";
                problem.Detail = "The request body did not arrive in time.";
                problem.Extensions["code"] = ProblemTypes.Name(ProblemCode.RequestTimeout);
                break;
            default:
                var json = FindJsonException(exception);
                var field = json?.Path is { Length: > 1 } path ? path.TrimStart('$').TrimStart('.') : "";
                field = field.Length == 0 ? "body" : field;
                var (code, title) = json is not null ? (ProblemCode.MalformedJson, "The request body is not valid JSON for this endpoint")
                    : bad.Message.Contains("was not provided", StringComparison.Ordinal) ? (ProblemCode.ValidationFailed, "The request has invalid fields")
                    : (ProblemCode.BadRequest, "The request could not be read");
                var what = json is not null ? Describe(json)
                    : code == ProblemCode.ValidationFailed ? "A JSON body is required."
                    : "could not be read.";
                problem.Title = title;
                // The framework's own messages name .NET types and parameters; clients get the field and the position instead.
                problem.Detail = json is null
                    ? (bad.Message.Contains("parameter", StringComparison.Ordinal) ? "The request could not be read." : bad.Message)
                    : $"'{field}' {what}" + (json.LineNumber is { } line ? $" (line {line + 1}, byte {json.BytePositionInLine + 1})" : "");
                problem.Extensions["code"] = ProblemTypes.Name(code);
                problem.Errors[field] = [what];
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

    static string Describe(JsonException json) => json.Message switch
    {
        var m when m.Contains("could not be converted", StringComparison.Ordinal) => "has the wrong JSON type for this field.",
        var m when m.Contains("could not be mapped", StringComparison.Ordinal) => "is not a known field.",
        var m when m.Contains("maximum configured depth", StringComparison.Ordinal) => "is nested too deeply.",
        _ => "is not valid JSON here.",
    };
}
