using System.Globalization;
using System.Text.Json.Nodes;
using FetchApi.Model;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace FetchApi.Batches;

/// <summary>
/// What the OpenAPI document cannot learn from the types: the configured bounds of every option, the headers the
/// batch operations send and take, and the callback a batch makes when it ends.
/// </summary>
static class BatchesOpenApi
{
    public static void AddBatchesOpenApi(this IServiceCollection services) =>
        services.ConfigureSwaggerGen(o =>
        {
            o.SchemaFilter<BoundsFilter>();
            o.OperationFilter<HeadersAndCallbackFilter>();
            o.DocumentFilter<PageSizeFilter>();
        });

    static string Number(double value) => value.ToString(CultureInfo.InvariantCulture);

    static OpenApiSchema Property(OpenApiSchema schema, string name) => (OpenApiSchema)schema.Properties![name];

    static readonly JsonArray Methods = ["GET", "HEAD"];

    sealed class BoundsFilter(IOptions<BatchLimits> options, IOptions<Engine.EngineOptions> engine) : ISchemaFilter
    {
        public void Apply(IOpenApiSchema schema, SchemaFilterContext context)
        {
            if (schema is not OpenApiSchema concrete || concrete.Properties is null)
            {
                return;
            }

            var limits = options.Value;
            if (context.Type == typeof(CreateBatchRequest))
            {
                var urls = Property(concrete, "urls");
                urls.MinItems = 1;
                urls.MaxItems = Math.Min(limits.MaxUrlsPerBatch, engine.Value.MaxBacklog);
                urls.Items = new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = limits.MaxUrlLength };
            }
            else if (context.Type == typeof(CallbackRequest))
            {
                Property(concrete, "url").MaxLength = limits.MaxUrlLength;
                Property(concrete, "url").Format = "uri";
                Property(concrete, "secret").MinLength = 16;
                Property(concrete, "secret").MaxLength = 256;
            }
            else if (context.Type == typeof(BatchOptionsRequest))
            {
                Bound(concrete, "concurrency", 1, limits.MaxConcurrency);
                Bound(concrete, "timeoutSeconds", 0.001, limits.MaxTimeout.TotalSeconds);
                Bound(concrete, "maxAttempts", 1, limits.MaxAttemptsLimit);
                Bound(concrete, "maxBodyBytes", 0, limits.MaxBodyBytesLimit);
                Bound(concrete, "maxRedirects", 0, limits.MaxRedirectsLimit);
                Bound(concrete, "perHostRequestsPerSecond", 0.001, BatchOptionsValidator.MaxRequestsPerSecond);
                Property(concrete, "method").Enum = [.. Methods.Select(m => m!.DeepClone())];
                // The request takes strings (an unknown one is a 400 naming it); the values are the ExtractField enum's.
                Property(concrete, "extract").Items = context.SchemaGenerator.GenerateSchema(typeof(ExtractField), context.SchemaRepository);
            }
            else if (context.Type == typeof(BatchOptions))
            {
                Property(concrete, "method").Enum = [.. Methods.Select(m => m!.DeepClone())];
            }
        }

        static void Bound(OpenApiSchema schema, string name, double minimum, double maximum)
        {
            var property = Property(schema, name);
            property.Minimum = Number(minimum);
            property.Maximum = Number(maximum);
        }
    }

    /// <summary>The page size bound comes from configuration (a document filter: it runs after the query types are set).</summary>
    sealed class PageSizeFilter(IOptions<BatchLimits> options) : IDocumentFilter
    {
        public void Apply(OpenApiDocument swaggerDoc, DocumentFilterContext context)
        {
            if (swaggerDoc.Paths.TryGetValue("/batches/{id}", out var path)
                && path.Operations?.TryGetValue(HttpMethod.Get, out var get) == true
                && get.Parameters?.OfType<OpenApiParameter>().FirstOrDefault(p => p.Name == "limit") is { Schema: OpenApiSchema limit })
            {
                limit.Maximum = Number(options.Value.MaxPageSize);
                limit.Default = options.Value.MaxPageSize;
            }
        }
    }

    sealed class HeadersAndCallbackFilter : IOperationFilter
    {
        public void Apply(OpenApiOperation operation, OperationFilterContext context)
        {
            if (operation.OperationId == "CreateBatch")
            {
                CreateBatch(operation, context);
            }
        }

        static void CreateBatch(OpenApiOperation operation, OperationFilterContext context)
        {
            if (operation.Parameters?.OfType<OpenApiParameter>().FirstOrDefault(p => p.Name == "Idempotency-Key") is { Schema: OpenApiSchema key })
            {
                key.MinLength = 1;
                key.MaxLength = 257; // 255 characters, or a quoted string of them
                key.Pattern = "^[!-~]+$";
            }

            foreach (var (status, response) in operation.Responses ?? [])
            {
                if (status is not ("200" or "202") || response is not OpenApiResponse concrete)
                {
                    continue;
                }

                concrete.Headers ??= new Dictionary<string, IOpenApiHeader>();
                concrete.Headers["Location"] = Header("The batch: /batches/{id}.", required: true, format: "uri-reference");
                concrete.Headers["Vary"] = Header("Prefer: the answer depends on whether a wait was asked for.", required: true);
                concrete.Headers["Idempotent-Replayed"] = Header("true when an earlier request with the same Idempotency-Key created this batch.");
                if (status == "200")
                {
                    concrete.Headers["Preference-Applied"] = Header("wait=N: the wait was honoured and the batch ended.", required: true);
                }
            }

            var summary = context.SchemaGenerator.GenerateSchema(typeof(BatchSummary), context.SchemaRepository);
            operation.Callbacks ??= new Dictionary<string, IOpenApiCallback>();
            operation.Callbacks["batchEnded"] = new OpenApiCallback
            {
                PathItems = new()
                {
                    [RuntimeExpression.Build("{$request.body#/callback/url}")] = new OpenApiPathItem
                    {
                        Operations = new()
                        {
                            [HttpMethod.Post] = new OpenApiOperation
                            {
                                Summary = "The batch ended (completed or cancelled)",
                                Security = [], // signed with callback.secret instead (FetchApi-Signature)
                                Description = "Sent once per batch with retries (the receiver should answer 2xx). The body is the batch " +
                                              "summary; `FetchApi-Signature: sha256=<hex>` is the HMAC-SHA256 of the body with `callback.secret`.",
                                Parameters =
                                [
                                    new OpenApiParameter
                                    {
                                        Name = "FetchApi-Signature", In = ParameterLocation.Header, Required = true,
                                        Schema = new OpenApiSchema { Type = JsonSchemaType.String, Pattern = "^sha256=[0-9a-f]{64}$" },
                                    },
                                ],
                                RequestBody = new OpenApiRequestBody
                                {
                                    Required = true,
                                    Content = new Dictionary<string, IOpenApiMediaType> { ["application/json"] = new OpenApiMediaType { Schema = summary } },
                                },
                                Responses = new OpenApiResponses { ["2XX"] = new OpenApiResponse { Description = "Received; no retry follows." } },
                            },
                        },
                    },
                },
            };
        }

        static OpenApiHeader Header(string description, bool required = false, string? format = null) => new()
        {
            Description = description, Required = required, Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = format },
        };
    }
}
