using System.Reflection;
using System.Text.Json.Nodes;
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
            // HEAD is answered wherever GET is (AnswerHeadLikeGet) but is not an operation of its own.
            o.DocInclusionPredicate((_, api) => !HttpMethods.IsHead(api.HttpMethod ?? ""));
            o.OperationFilter<RequestExampleFilter>();
            o.DocumentFilter<TagDescriptionsFilter>();
            o.OperationFilter<QueryParameterTypesFilter>();
            o.OperationFilter<RetryAfterHeaderFilter>();
            o.SchemaFilter<ResponseSchemaFilter>();
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

    /// <summary>
    /// Response shapes list every member they always write as <c>required</c> (members left out when null are not), so
    /// that generated clients type them as present; <c>next</c> links are relative URI references.
    /// </summary>
    sealed class ResponseSchemaFilter : ISchemaFilter
    {
        public void Apply(IOpenApiSchema schema, SchemaFilterContext context)
        {
            if (schema is not OpenApiSchema concrete || concrete.Properties is not { Count: > 0 } properties
                || context.Type.Namespace?.StartsWith("FetchApi", StringComparison.Ordinal) != true
                || context.Type.Name.EndsWith("Request", StringComparison.Ordinal))
            {
                return;
            }

            foreach (var property in context.Type.GetProperties())
            {
                var name = System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(property.Name);
                if (!properties.ContainsKey(name))
                {
                    continue;
                }

                if (property.GetCustomAttribute<System.Text.Json.Serialization.JsonIgnoreAttribute>() is null)
                {
                    concrete.Required ??= new HashSet<string>();
                    concrete.Required.Add(name);
                }

                if (name == "next" && properties[name] is OpenApiSchema next)
                {
                    next.Format = "uri-reference";
                }
            }
        }
    }

    /// <summary>Every 429 and 503 problem says when to come back.</summary>
    sealed class RetryAfterHeaderFilter : IOperationFilter
    {
        public void Apply(OpenApiOperation operation, OperationFilterContext context)
        {
            foreach (var (status, response) in operation.Responses ?? [])
            {
                if (status is "429" or "503" && response is OpenApiResponse concrete && concrete.Content?.ContainsKey(Problems.MediaType) == true)
                {
                    concrete.Headers ??= new Dictionary<string, IOpenApiHeader>();
                    concrete.Headers["Retry-After"] = new OpenApiHeader
                    {
                        Description = "Seconds to wait before trying again.", Required = true,
                        Schema = new OpenApiSchema { Type = JsonSchemaType.Integer, Minimum = "1" },
                    };
                }
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
                        Maximum = query.Maximum == int.MaxValue ? null : query.Maximum.ToString(System.Globalization.CultureInfo.InvariantCulture),
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
