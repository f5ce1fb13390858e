using System.Text.Json;
using System.Text.Json.Serialization;
using FetchApi.Http;
using FetchApi.Urls;
using FluentValidation;

namespace FetchApi.Batches;

public static class BatchesExtensions
{
    public static WebApplicationBuilder AddFetchBatches(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<BatchLimits>(BatchLimits.Section);
        builder.Services.AddOptions<RequestLimits>().Configure<Microsoft.Extensions.Options.IOptions<BatchLimits>>(
            (request, batches) => request.MaxBodyBytes = batches.Value.MaxRequestBodyBytes);
        // POST /urls/check takes the lists POST /batches takes.
        builder.Services.AddOptions<UrlLimits>().Configure<Microsoft.Extensions.Options.IOptions<BatchLimits>>((urls, batches) =>
        {
            var limits = batches.Value.UrlLimits();
            (urls.MaxUrls, urls.MaxUrlLength) = (limits.MaxUrls, limits.MaxUrlLength);
        });
        builder.Services.AddSingleton<BatchService>();
        builder.Services.AddBatchesOpenApi();
        builder.Services.AddSingleton(new TagDescription("Batches",
            "Submit URLs, read one result slot per URL in input order, follow, cancel and delete batches."));

        builder.Services.AddSingleton<IValidator<CreateBatchRequest>, CreateBatchValidator>();
        UseJsonFieldNames();

        // Enums are strings on the wire: "running", "blocked_address".
        var enums = new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false);
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Converters.Add(enums));
        builder.Services.Configure<Microsoft.AspNetCore.Mvc.JsonOptions>(o => o.JsonSerializerOptions.Converters.Add(enums));

        return builder;
    }

    /// <summary>
    /// Error keys name JSON fields as clients write them (<c>urls[3]</c>, <c>options.maxAttempts</c>), and so do the
    /// messages: "'timeoutSeconds' must be …", not FluentValidation's "'Timeout Seconds' must be …". Rules read this
    /// when they are built: set it before any validator is constructed.
    /// </summary>
    public static void UseJsonFieldNames()
    {
        ValidatorOptions.Global.PropertyNameResolver = JsonName;
        ValidatorOptions.Global.DisplayNameResolver = JsonName;
    }

    static string? JsonName(Type type, System.Reflection.MemberInfo? member, System.Linq.Expressions.LambdaExpression? expression) =>
        member is null ? null : JsonNamingPolicy.CamelCase.ConvertName(member.Name);
}
