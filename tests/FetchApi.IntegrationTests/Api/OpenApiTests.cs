using System.Net;
using System.Text.Json.Nodes;

// Not FetchApi.IntegrationTests.Api: that name is taken by the Api helper class.
namespace FetchApi.IntegrationTests.ApiTests;

/// <summary>What a person in the Swagger UI, or a client generator, reads in the OpenAPI document.</summary>
public sealed class OpenApiTests(ServiceFixture fixture) : IClassFixture<ServiceFixture>
{
    readonly HttpClient _client = fixture.Client;

    async Task<JsonObject> DocumentAsync()
    {
        using var response = await _client.GetAsync("/swagger/v1/swagger.json", TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"expected 200, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonNode.Parse(text)!.AsObject();
    }

    /// <summary>Every operation of the document, by operationId.</summary>
    static Dictionary<string, JsonObject> Operations(JsonObject document)
    {
        var operations = new Dictionary<string, JsonObject>();
        foreach (var (_, path) in document["paths"]!.AsObject())
        {
            foreach (var (method, operation) in path!.AsObject())
            {
                if (operation is JsonObject o && o["operationId"]?.GetValue<string>() is { } id)
                {
                    Assert.True(operations.TryAdd(id, o), $"operationId {id} appears twice (second on {method})");
                }
            }
        }

        return operations;
    }

    static JsonNode? RequestExample(JsonObject createBatch)
    {
        var media = createBatch["requestBody"]?["content"]?["application/json"];
        return media?["example"] ?? (media?["examples"] as JsonObject)?.FirstOrDefault().Value?["value"];
    }

    [Theory]
    [InlineData("CreateBatch")]
    [InlineData("GetBatch")]
    [InlineData("ListBatches")]
    [InlineData("CancelBatch")]
    [InlineData("DeleteBatch")]
    public async Task EveryBatchOperationIsDocumentedWithASummary(string operationId)
    {
        var operations = Operations(await DocumentAsync());

        Assert.True(operations.TryGetValue(operationId, out var operation), $"no operation {operationId}; found {string.Join(", ", operations.Keys)}");
        Assert.False(string.IsNullOrWhiteSpace(operation["summary"]?.GetValue<string>()), $"{operationId} has no summary");
    }

    [Fact]
    public async Task CreateBatchDocumentsEveryResponseAClientCanGet()
    {
        var createBatch = Operations(await DocumentAsync())["CreateBatch"];

        var responses = createBatch["responses"]!.AsObject().Select(r => r.Key).ToHashSet();
        foreach (var status in new[] { "202", "400", "413", "415", "429", "503" })
        {
            Assert.True(responses.Contains(status), $"CreateBatch does not document {status}; it documents {string.Join(", ", responses)}");
        }
    }

    [Fact]
    public async Task CreateBatchHasARequestBodyExample()
    {
        var createBatch = Operations(await DocumentAsync())["CreateBatch"];

        var example = RequestExample(createBatch);

        Assert.True(example is JsonObject, $"CreateBatch has no JSON request example: {createBatch["requestBody"]?.ToJsonString()}");
        Assert.NotEmpty(example["urls"]!.AsArray());
    }

    [Fact]
    public async Task TheRequestBodyExampleWorksAsShown()
    {
        var example = RequestExample(Operations(await DocumentAsync())["CreateBatch"]);
        Assert.NotNull(example);

        // Its URLs pass the service's URL rules as written; the POST sends them to the loopback upstream instead (the
        // example names public hosts, which a test never submits), with every other field as shown.
        var urls = example["urls"]!.AsArray();
        Assert.All(urls, u => Assert.Null(FetchApi.Urls.UrlRules.Problem(u!.GetValue<string>(), 2048)));
        for (var i = 0; i < urls.Count; i++)
        {
            urls[i] = fixture.Upstream.Url($"/ok?example={i}");
        }

        using var response = await _client.PostTextAsync("/batches", example.ToJsonString());
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"the example was refused with {(int)response.StatusCode}: {text}");
    }

    static void AssertSomeSchemaEnumerates(JsonObject document, string what, string[] values)
    {
        var enums = document["components"]!["schemas"]!.AsObject()
            .Where(s => s.Value?["enum"] is JsonArray)
            .ToDictionary(s => s.Key, s => s.Value!["enum"]!.AsArray().Select(v => v?.ToString()).ToHashSet());

        Assert.True(enums.Values.Any(e => e.SetEquals(values)),
            $"no schema enumerates the {what} values [{string.Join(", ", values)}]; enum schemas: " +
            string.Join("; ", enums.Select(e => $"{e.Key}=[{string.Join(", ", e.Value)}]")));
    }

    [Fact]
    public async Task SchemasListEveryBatchStatus()
    {
        AssertSomeSchemaEnumerates(await DocumentAsync(), "batch status", ["queued", "running", "completed", "cancelled"]);
    }

    [Theory]
    [InlineData("slot state", "pending", "fetched", "failed", "cancelled")]
    [InlineData("error code", "blocked_address", "dns_failure", "connection_refused", "connection_reset", "timeout", "tls_error",
        "too_many_redirects", "body_too_large", "protocol_error", "internal_error", "robots_disallowed")]
    public async Task SchemasListEveryValueOfEachSlotEnum(string what, params string[] values)
    {
        AssertSomeSchemaEnumerates(await DocumentAsync(), what, values);
    }

    [Fact]
    public async Task GetBatchDocumentsTheResultSlotsAndNextLink()
    {
        var document = await DocumentAsync();
        var ok = Operations(document)["GetBatch"]["responses"]!["200"]!["content"]!["application/json"]!["schema"]!;

        var name = ok["$ref"]!.GetValue<string>().Split('/')[^1];
        var properties = document["components"]!["schemas"]![name]!["properties"]!.AsObject();

        Assert.True(properties.ContainsKey("results") && properties.ContainsKey("next"),
            $"GetBatch documents 200 as {name}, without results/next: {string.Join(", ", properties.Select(p => p.Key))}");
    }

    [Theory]
    [InlineData("/swagger/index.html")]
    [InlineData("/swagger")]
    public async Task SwaggerUiAnswersWithHtml(string path)
    {
        using var response = await _client.GetAsync(path, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

        Assert.True(response.StatusCode == HttpStatusCode.OK, $"expected 200, got {(int)response.StatusCode}: {text}");
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("swagger-ui", text, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task AnOpenServiceRequiresNoTokenInItsDocument()
    {
        var document = await DocumentAsync();

        // Explicitly none: an empty list, which linters and generators read as "no credentials".
        Assert.All(Operations(document), o => Assert.Empty(o.Value["security"]!.AsArray()));
    }

    [Fact]
    public async Task WithKeysBatchOperationsDeclareTheBearerSchemeAndHealthDoesNot()
    {
        await using var factory = new FetchApiFactory(new Dictionary<string, string?>
        {
            ["Security:ApiKeys:0:Name"] = "alice", ["Security:ApiKeys:0:Key"] = "alice-key-0123456789",
        });
        using var client = factory.CreateClient();
        var document = JsonNode.Parse(await client.GetStringAsync("/swagger/v1/swagger.json", TestContext.Current.CancellationToken))!.AsObject();

        var scheme = document["components"]!["securitySchemes"]!["Bearer"]!;
        Assert.Equal(("http", "bearer"), (scheme["type"]!.GetValue<string>(), scheme["scheme"]!.GetValue<string>()));
        foreach (var (id, operation) in Operations(document))
        {
            var requirements = operation["security"]?.AsArray();
            var batches = operation["tags"]![0]!.GetValue<string>() is "Batches" or "Urls";
            Assert.Equal(batches, requirements is { Count: > 0 } && requirements[0]!.AsObject().ContainsKey("Bearer"));
            Assert.Equal(batches, operation["responses"]!.AsObject().ContainsKey("401"));
        }
    }

    static JsonObject Schema(JsonObject document, string name) => document["components"]!["schemas"]![name]!.AsObject();

    static string? Ref(JsonNode? media) => media?["schema"]?["$ref"]?.GetValue<string>();

    [Fact]
    public async Task CreateBatchAnswersOneShapeFor200And202AndResultsAreOptional()
    {
        var document = await DocumentAsync();
        var responses = Operations(document)["CreateBatch"]["responses"]!;

        Assert.Equal("#/components/schemas/BatchDetails", Ref(responses["202"]!["content"]!["application/json"]));
        Assert.Equal("#/components/schemas/BatchDetails", Ref(responses["200"]!["content"]!["application/json"]));
        var required = Schema(document, "BatchDetails")["required"]!.AsArray().Select(r => r!.GetValue<string>());
        Assert.DoesNotContain("results", required);
        Assert.Equal("uri-reference", Schema(document, "BatchDetails")["properties"]!["next"]!["format"]!.GetValue<string>());
        Assert.Equal("uri-reference", Schema(document, "BatchList")["properties"]!["next"]!["format"]!.GetValue<string>());
    }

    [Fact]
    public async Task TheEventsOperationIsATextEventStream()
    {
        var responses = Operations(await DocumentAsync())["StreamBatchEvents"]["responses"]!;

        var schema = responses["200"]!["content"]!["text/event-stream"]!["schema"]!;
        // A binary string: generated clients hand over the open stream (NSwag reads a plain string as one JSON string).
        Assert.Equal(("string", "binary"), (schema["type"]!.GetValue<string>(), schema["format"]?.GetValue<string>()));
        Assert.NotNull(responses["204"]);
    }

    [Fact]
    public async Task TheExportOperationIsAnNdjsonStream()
    {
        var schema = Operations(await DocumentAsync())["ExportResults"]["responses"]!["200"]!["content"]!["application/x-ndjson"]!["schema"]!;

        // Not the SlotResult schema: generated clients would read the whole body as one slot and fail at the second line.
        Assert.Equal(("string", "binary"), (schema["type"]!.GetValue<string>(), schema["format"]?.GetValue<string>()));
    }

    [Theory]
    [InlineData("BatchCounts")]
    [InlineData("BatchList")]
    [InlineData("FetchError")]
    [InlineData("HealthStatus")]
    public async Task ShapesWithoutOptionalMembersRequireAllOfThem(string name)
    {
        var schema = Schema(await DocumentAsync(), name);

        var required = schema["required"]!.AsArray().Select(r => r!.GetValue<string>()).Order();
        Assert.Equal(schema["properties"]!.AsObject().Select(p => p.Key).Order(), required);
    }

    [Fact]
    public async Task EveryErrorResponseIsAProblemWithATypedCodeListingEveryProblemType()
    {
        var document = await DocumentAsync();
        var codes = Schema(document, "ProblemCode")["enum"]!.AsArray().Select(c => c!.GetValue<string>()).ToHashSet();
        var served = (await _client.GetFromJsonAsync<JsonArray>("/problems", TestContext.Current.CancellationToken))!
            .Select(t => t!["code"]!.GetValue<string>()).ToHashSet();

        Assert.Equal(served, codes);
        Assert.Contains("code", Schema(document, "Problem")["required"]!.AsArray().Select(r => r!.GetValue<string>()));
        foreach (var (id, operation) in Operations(document))
        {
            foreach (var (status, response) in operation["responses"]!.AsObject())
            {
                if (status[0] is '4' or '5' && !(id == "GetReadiness" && status == "503"))
                {
                    Assert.True(Ref(response!["content"]?["application/problem+json"]) == "#/components/schemas/Problem", $"{id} {status}");
                }
            }
        }
    }

    [Fact]
    public async Task BoundsAndEnumsOfParametersAndOptionsAreDocumented()
    {
        var document = await DocumentAsync();
        var operations = Operations(document);
        JsonNode Parameter(string operation, string name) =>
            operations[operation]["parameters"]!.AsArray().Single(p => p!["name"]!.GetValue<string>() == name)!["schema"]!;
        var options = Schema(document, "BatchOptionsRequest")["properties"]!;

        Assert.Equal((1, 1000), (Parameter("GetBatch", "limit")["minimum"]!.GetValue<int>(), Parameter("GetBatch", "limit")["maximum"]!.GetValue<int>()));
        Assert.Equal((1, 100), (Parameter("ListBatches", "limit")["minimum"]!.GetValue<int>(), Parameter("ListBatches", "limit")["maximum"]!.GetValue<int>()));
        Assert.Equal(257, Parameter("CreateBatch", "Idempotency-Key")["maxLength"]!.GetValue<int>());
        Assert.Equal((1, 256), (options["concurrency"]!["minimum"]!.GetValue<int>(), options["concurrency"]!["maximum"]!.GetValue<int>()));
        Assert.Equal(10, options["maxAttempts"]!["maximum"]!.GetValue<int>());
        Assert.Equal(["GET", "HEAD"], options["method"]!["enum"]!.AsArray().Select(m => m!.GetValue<string>()));
        var secret = Schema(document, "CallbackRequest")["properties"]!["secret"]!;
        Assert.Equal((16, 256), (secret["minLength"]!.GetValue<int>(), secret["maxLength"]!.GetValue<int>()));
    }

    [Fact]
    public async Task ResponseHeadersHealthAndTheCallbackAreDocumented()
    {
        var operations = Operations(await DocumentAsync());
        var create = operations["CreateBatch"];

        Assert.True(create["responses"]!["202"]!["headers"]!["Location"]!["required"]!.GetValue<bool>());
        Assert.NotNull(create["responses"]!["202"]!["headers"]!["Idempotent-Replayed"]);
        Assert.NotNull(create["responses"]!["200"]!["headers"]!["Preference-Applied"]);
        Assert.NotNull(create["responses"]!["429"]!["headers"]!["Retry-After"]);
        Assert.NotNull(create["responses"]!["503"]!["headers"]!["Retry-After"]);
        Assert.NotNull(create["callbacks"]!["batchEnded"]!["{$request.body#/callback/url}"]!["post"]);
        Assert.Contains("GetLiveness", operations.Keys);
        Assert.NotNull(operations["GetReadiness"]["responses"]!["503"]);
    }

    [Theory]
    [InlineData("CreateBatchRequest", "urls")]
    [InlineData("BatchSummary", "id", "status", "createdAt", "options", "counts")]
    [InlineData("SlotResult", "index", "url", "state")]
    [InlineData("FetchResponse", "statusCode", "finalUrl", "sha256")]
    public async Task SchemasMarkWhatIsAlwaysPresentAsRequired(string schema, params string[] required)
    {
        var document = await DocumentAsync();

        var declared = document["components"]!["schemas"]![schema]!["required"]!.AsArray().Select(r => r!.GetValue<string>());
        Assert.Superset(required.ToHashSet(), declared.ToHashSet());
    }

    [Fact]
    public async Task IdsAndTimesCarryTheirFormats()
    {
        var summary = (await DocumentAsync())["components"]!["schemas"]!["BatchSummary"]!["properties"]!;

        Assert.Equal("uuid", summary["id"]!["format"]!.GetValue<string>());
        Assert.Equal("date-time", summary["createdAt"]!["format"]!.GetValue<string>());
    }
}
