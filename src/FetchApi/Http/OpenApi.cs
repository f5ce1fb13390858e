using System.Reflection;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Authorization;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace FetchApi.Http;

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

    /// <summary>Operations that require authorization (endpoint metadata) show the lock; health and the document itself do not.</summary>
    sealed class BearerRequirementFilter : IOperationFilter
    {
        public void Apply(OpenApiOperation operation, OperationFilterContext context)
        {
            if (context.ApiDescription.ActionDescriptor.EndpointMetadata.OfType<IAuthorizeData>().Any())
            {
                operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, context.Document)] = [] }];
            }
        }
    }

    /// <summary>Query values bound as strings get the type their <see cref="QueryTypeAttribute"/> names.</summary>
    sealed class QueryParameterTypesFilter : IOperationFilter
    {
        public void Apply(OpenApiOperation operation, OperationFilterContext context)
        {
            foreach (var description in context.ApiDescription.ParameterDescriptions)
            {
                if (description.ParameterInfo()?.GetCustomAttribute<QueryTypeAttribute>() is not { } query
                    || operation.Parameters?.OfType<OpenApiParameter>().FirstOrDefault(p => p.Name == description.Name && p.In == ParameterLocation.Query)
                        is not { } parameter)
                {
                    continue;
                }

                parameter.Schema = query.Type switch
                {
                    { IsEnum: true } type => context.SchemaGenerator.GenerateSchema(type, context.SchemaRepository),
                    var type when type == typeof(int) => new OpenApiSchema
                    {
                        Type = JsonSchemaType.Integer, Format = "int32",
                        Minimum = query.Minimum == int.MinValue ? null : query.Minimum.ToString(System.Globalization.CultureInfo.InvariantCulture),
                        Default = query.Default is null ? null : JsonNode.Parse(query.Default),
                    },
                    var type when type == typeof(bool) => new OpenApiSchema
                    {
                        Type = JsonSchemaType.Boolean, Default = query.Default is null ? null : JsonNode.Parse(query.Default),
                    },
                    _ => parameter.Schema,
                };
            }
        }
    }

    /// <summary>Tag descriptions registered by the features (<see cref="TagDescription"/>).</summary>
    sealed class TagDescriptionsFilter(IEnumerable<TagDescription> tags) : IDocumentFilter
    {
        public void Apply(OpenApiDocument swaggerDoc, DocumentFilterContext context) =>
            swaggerDoc.Tags = tags.Select(t => new OpenApiTag { Name = t.Name, Description = t.Description }).ToHashSet();
    }

    /// <summary>The request body example an endpoint declares with <see cref="RequestExample"/> metadata.</summary>
    sealed class RequestExampleFilter : IOperationFilter
    {
        public void Apply(OpenApiOperation operation, OperationFilterContext context)
        {
            if (context.ApiDescription.ActionDescriptor.EndpointMetadata.OfType<RequestExample>().LastOrDefault() is { } example
                && operation.RequestBody?.Content?.TryGetValue("application/json", out var media) == true && media is OpenApiMediaType concrete)
            {
                concrete.Example = JsonNode.Parse(example.Json);
            }
        }
    }
}
