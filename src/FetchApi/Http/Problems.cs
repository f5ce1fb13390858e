using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;

namespace FetchApi.Http;

/// <summary>
/// RFC 9457 problem details for every error, always as <c>application/problem+json</c> (whatever <c>Accept</c> says:
/// an error must stay readable). Each carries a stable <c>code</c> and the <c>type</c> URI of that code
/// (<see cref="ProblemTypes"/>).
/// </summary>
public static class Problems
{
    public const string MediaType = "application/problem+json";

    public static ProblemHttpResult Create(ProblemCode code, string title, string detail) =>
        TypedResults.Problem(detail, statusCode: ProblemTypes.For(code).Status, title: title,
            extensions: new Dictionary<string, object?> { ["code"] = ProblemTypes.Name(code) });

    public static ProblemHttpResult NotFound(string title, string detail) => Create(ProblemCode.NotFound, title, detail);

    public static ValidationProblem Validation(Dictionary<string, string[]> errors) =>
        TypedResults.ValidationProblem(errors, title: ProblemTypes.For(ProblemCode.ValidationFailed).Title,
            extensions: new Dictionary<string, object?> { ["code"] = ProblemTypes.Name(ProblemCode.ValidationFailed) });

    /// <summary>
    /// Writes a problem response where no typed result can be returned (exception handlers, authentication challenges,
    /// the rate limiter's rejection callback).
    /// </summary>
    public static ValueTask<bool> WriteAsync(HttpContext http, ProblemCode code, string title, string detail, Exception? exception = null)
    {
        http.Response.StatusCode = ProblemTypes.For(code).Status;
        return http.RequestServices.GetRequiredService<IProblemDetailsService>().TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            Exception = exception,
            ProblemDetails = new ProblemDetails
            {
                Status = http.Response.StatusCode, Title = title, Detail = detail, Extensions = { ["code"] = ProblemTypes.Name(code) },
            },
        });
    }

    /// <summary>Documents error responses with the one <see cref="Problem"/> schema.</summary>
    public static TBuilder ProducesProblems<TBuilder>(this TBuilder builder, params int[] statuses) where TBuilder : IEndpointConventionBuilder
    {
        foreach (var status in statuses)
        {
            builder.WithMetadata(new ProducesResponseTypeMetadata(status, typeof(Problem), [MediaType]));
        }

        return builder;
    }

    /// <summary>Fills in what every problem carries: <c>code</c>, its <c>type</c>, a title, the request path.</summary>
    static void Complete(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        var http = context.HttpContext;
        problem.Status ??= http.Response.StatusCode;
        var code = problem.Extensions.TryGetValue("code", out var named) && named is string name
            && ProblemTypes.All.FirstOrDefault(t => ProblemTypes.Name(t.Code) == name) is { } known
                ? known.Code
                : ProblemTypes.ForStatus(problem.Status.Value);
        problem.Extensions["code"] = ProblemTypes.Name(code);
        problem.Type = ProblemTypes.For(code).Type;
        problem.Title ??= ReasonPhrases.GetReasonPhrase(problem.Status.Value);
        problem.Instance ??= http.Request.Path;
        problem.Extensions["traceId"] = System.Diagnostics.Activity.Current?.Id ?? http.TraceIdentifier;
    }

    /// <summary>Writes every problem as JSON, unlike the default writer, which gives up when <c>Accept</c> names another type.</summary>
    sealed class JsonProblemWriter(IOptions<ProblemDetailsOptions> options, IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json)
        : IProblemDetailsWriter
    {
        public bool CanWrite(ProblemDetailsContext context) => true;

        public ValueTask WriteAsync(ProblemDetailsContext context)
        {
            options.Value.CustomizeProblemDetails?.Invoke(context);
            var problem = context.ProblemDetails;
            return new ValueTask(context.HttpContext.Response.WriteAsJsonAsync(problem, problem.GetType(), json.Value.SerializerOptions, MediaType));
        }
    }

    public static WebApplicationBuilder AddFetchProblemDetails(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<RequestLimits>();
        builder.Services.AddSingleton<IProblemDetailsWriter, JsonProblemWriter>(); // before the default writer: it is asked first
        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = Complete);
        builder.Services.AddExceptionHandler<BadRequestExceptionHandler>();
        builder.Services.AddExceptionHandler<StoreUnavailableExceptionHandler>();
        // Binding failures throw, so that the handler below can say which field was wrong instead of an empty 400.
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        return builder;
    }

    /// <summary>Problem details for every error response: exceptions, bare status codes, oversized bodies.</summary>
    public static WebApplication UseFetchProblemDetails(this WebApplication app)
    {
        app.UseHeadWithoutBody();
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
        app.MapProblemTypes();
        return app;
    }
}
