using System.Reflection;
using System.Text.Json.Nodes;
using FetchApi.Batches;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace FetchApi.Api;

public static class OpenApi
{
    public static WebApplicationBuilder AddFetchOpenApi(this WebApplicationBuilder builder)
    {
        builder.Services.AddEndpointsApiExplorer();
        builder.Services.AddSwaggerGen(o =>
        {
            o.SwaggerDoc("v1", new OpenApiInfo
            {
                Title = "FetchApi",
                Version = "v1",
                Description = "Fetches many URLs for you. POST a batch, then read one result or typed error per URL, in input order.",
            });
            var xml = Path.Combine(AppContext.BaseDirectory, $"{Assembly.GetExecutingAssembly().GetName().Name}.xml");
            if (File.Exists(xml))
            {
                o.IncludeXmlComments(xml);
            }

            o.SupportNonNullableReferenceTypes();
            o.OperationFilter<RequestExampleFilter>();
            // The Authorize button: paste an API key, and every "Try it out" sends it as a bearer token.
            o.AddSecurityDefinition(BearerScheme, new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = "An API key from Security:ApiKeys, sent as 'Authorization: Bearer <key>'. Not needed when no keys are configured.",
            });
            o.OperationFilter<BearerRequirementFilter>();
            o.DocumentFilter<TagDescriptionsFilter>();
            o.OperationFilter<QueryParameterTypesFilter>();
        });
        return builder;
    }

    public static WebApplication UseFetchOpenApi(this WebApplication app)
    {
        // The server is whatever address the document was fetched from, so generated clients and "Try it out" agree.
        app.UseSwagger(o => o.PreSerializeFilters.Add((document, request) =>
            document.Servers = [new OpenApiServer { Url = $"{request.Scheme}://{request.Host.Value}{request.PathBase}" }]));
        app.UseSwaggerUI(o =>
        {
            o.SwaggerEndpoint("/swagger/v1/swagger.json", "FetchApi v1");
            o.DocumentTitle = "FetchApi";
        });
        return app;
    }

    const string BearerScheme = "Bearer";

    /// <summary>Operations on batches need a key (when keys are configured); health and the document itself do not.</summary>
    sealed class BearerRequirementFilter : IOperationFilter
    {
        public void Apply(OpenApiOperation operation, OperationFilterContext context)
        {
            if (context.ApiDescription.RelativePath?.StartsWith("batches", StringComparison.Ordinal) == true)
            {
                operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, context.Document)] = [] }];
            }
        }
    }

    /// <summary>
    /// Query values are bound as strings so that a bad one is a 400 naming the parameter; the document still gives
    /// their real types, so generated clients take numbers, booleans and enums.
    /// </summary>
    sealed class QueryParameterTypesFilter : IOperationFilter
    {
        public void Apply(OpenApiOperation operation, OperationFilterContext context)
        {
            foreach (var parameter in operation.Parameters?.OfType<OpenApiParameter>() ?? [])
            {
                if (parameter.In != ParameterLocation.Query)
                {
                    continue;
                }

                parameter.Schema = parameter.Name switch
                {
                    "offset" or "limit" => new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32", Minimum = "0" },
                    "results" => new OpenApiSchema { Type = JsonSchemaType.Boolean, Default = System.Text.Json.Nodes.JsonValue.Create(true) },
                    "state" => new OpenApiSchemaReference(nameof(Model.SlotState), context.Document),
                    "status" => new OpenApiSchemaReference(nameof(Model.BatchStatus), context.Document),
                    _ => parameter.Schema,
                };
            }
        }
    }

    sealed class TagDescriptionsFilter : IDocumentFilter
    {
        public void Apply(OpenApiDocument swaggerDoc, DocumentFilterContext context) =>
            swaggerDoc.Tags = new HashSet<OpenApiTag>
            {
                new() { Name = "Batches", Description = "Submit URLs, read one result slot per URL in input order, follow, cancel and delete batches." },
            };
    }

    /// <summary>An example body that works as shown in "Try it out".</summary>
    sealed class RequestExampleFilter : IOperationFilter
    {
        public void Apply(OpenApiOperation operation, OperationFilterContext context)
        {
            if (operation.OperationId == "CreateBatch" && operation.RequestBody?.Content?.TryGetValue("application/json", out var media) == true
                && media is OpenApiMediaType concrete)
            {
                concrete.Example = JsonNode.Parse("""
                    {
                      "urls": ["https://example.com/", "https://example.org/a?b=1"],
                      "options": { "concurrency": 20, "timeoutSeconds": 10, "maxAttempts": 3, "includeBody": false }
                    }
                    """);
            }
        }
    }
}
