using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;

namespace FetchApi.IntegrationTests.Contract;

/// <summary>
/// The schemas of an OpenAPI 3.0 document as JSON Schema 2020-12, checked by JsonSchema.Net. OpenAPI 3.0 schemas are
/// not JSON Schema: <c>nullable: true</c> becomes a <c>"null"</c> type, boolean <c>exclusiveMinimum</c> and
/// <c>exclusiveMaximum</c> become numbers, siblings of <c>$ref</c> are ignored (as 3.0 says), OpenAPI-only keywords go,
/// and <c>#/components/schemas/X</c> points at <c>#/$defs/X</c>. Formats are asserted, OpenAPI's own
/// (int32, int64, float, double) included.
/// </summary>
public sealed class OpenApiSchemas
{
    const string ComponentsPrefix = "#/components/schemas/";
    static readonly HashSet<string> Dropped = ["nullable", "example", "discriminator", "xml", "externalDocs"];

    readonly JsonObject _defs;
    readonly BuildOptions _build = new() { SchemaRegistry = new SchemaRegistry() };
    readonly EvaluationOptions _evaluation;
    readonly Dictionary<string, JsonSchema> _built = [];
    readonly Lock _gate = new();

    public OpenApiSchemas(JsonObject components)
    {
        _defs = new JsonObject(components.Select(c => KeyValuePair.Create(c.Key, (JsonNode?)Convert(c.Value))));
        var formats = new FormatRegistry();
        formats.Register(new PredicateFormat("int32", e => e.ValueKind != JsonValueKind.Number || e.TryGetInt32(out _)));
        formats.Register(new PredicateFormat("int64", e => e.ValueKind != JsonValueKind.Number || e.TryGetInt64(out _)));
        formats.Register(new PredicateFormat("float", _ => true));
        formats.Register(new PredicateFormat("double", _ => true));
        _evaluation = new EvaluationOptions { OutputFormat = OutputFormat.List, RequireFormatValidation = true, FormatRegistry = formats };
    }

    /// <summary>What is wrong with <paramref name="instance"/> under the OpenAPI schema <paramref name="schema"/>; empty when nothing.</summary>
    public IReadOnlyList<string> Validate(JsonNode schema, JsonElement instance)
    {
        var results = Build(schema).Evaluate(instance, _evaluation);
        if (results.IsValid)
        {
            return [];
        }

        var errors = new List<string>();
        foreach (var result in (IEnumerable<EvaluationResults>?)results.Details ?? [results])
        {
            foreach (var (keyword, message) in result.Errors ?? new Dictionary<string, string>())
            {
                var at = result.InstanceLocation.ToString();
                var rule = keyword.Length > 0 ? keyword : $"schema {result.EvaluationPath}";
                errors.Add($"{(at.Length == 0 ? "(body)" : at)}: {rule}: {message}");
            }
        }

        return errors.Count > 0 ? [.. errors.Distinct()] : ["the value does not match the schema"];
    }

    /// <summary>The JSON type a schema asks for ("integer", "string", ...), following a component <c>$ref</c>.</summary>
    public string? TypeOf(JsonNode schema)
    {
        for (var depth = 0; depth < 16 && schema is JsonObject o; depth++)
        {
            if (o["$ref"]?.GetValue<string>() is not { } reference)
            {
                return o["type"]?.GetValue<string>();
            }

            schema = _defs[reference[ComponentsPrefix.Length..]]!;
        }

        return null;
    }

    JsonSchema Build(JsonNode schema)
    {
        var key = schema.ToJsonString();
        lock (_gate)
        {
            if (!_built.TryGetValue(key, out var built))
            {
                var root = Convert(schema) is JsonObject converted ? converted : new JsonObject { ["allOf"] = new JsonArray(Convert(schema)) };
                root["$schema"] = "https://json-schema.org/draft/2020-12/schema";
                root["$defs"] = _defs.DeepClone();
                using var document = JsonDocument.Parse(root.ToJsonString());
                // A name of our own for each schema: the registry refuses a second schema under the same one.
                var id = new Uri(string.Create(CultureInfo.InvariantCulture, $"https://fetchapi.test/openapi/{_built.Count}"));
                built = JsonSchema.Build(document.RootElement.Clone(), _build, id);
                _built[key] = built;
            }

            return built;
        }
    }

    /// <summary>One OpenAPI 3.0 schema as JSON Schema 2020-12.</summary>
    public static JsonNode Convert(JsonNode? node)
    {
        if (node is not JsonObject schema)
        {
            return node?.DeepClone() ?? new JsonObject();
        }

        if (schema["$ref"]?.GetValue<string>() is { } reference)
        {
            if (!reference.StartsWith(ComponentsPrefix, StringComparison.Ordinal))
            {
                throw new NotSupportedException($"only component schema references are supported, not {reference}");
            }

            return new JsonObject { ["$ref"] = "#/$defs/" + reference[ComponentsPrefix.Length..] };
        }

        var result = new JsonObject();
        foreach (var (key, value) in schema)
        {
            if (Dropped.Contains(key) || key.StartsWith("x-", StringComparison.Ordinal))
            {
                continue;
            }

            result[key] = key switch
            {
                "properties" => new JsonObject(value!.AsObject().Select(p => KeyValuePair.Create(p.Key, (JsonNode?)Convert(p.Value)))),
                "items" or "not" or "additionalProperties" => Convert(value),
                "allOf" or "anyOf" or "oneOf" => new JsonArray([.. value!.AsArray().Select(Convert)]),
                _ => value?.DeepClone(),
            };
        }

        Exclusive(result, "exclusiveMinimum", "minimum");
        Exclusive(result, "exclusiveMaximum", "maximum");
        if (schema["nullable"]?.GetValueKind() != JsonValueKind.True)
        {
            return result;
        }

        if (result["type"] is JsonValue type)
        {
            result["type"] = new JsonArray(type.GetValue<string>(), "null");
            if (result["enum"] is JsonArray values && !values.Any(v => v is null))
            {
                values.Add(null);
            }

            return result;
        }

        return new JsonObject { ["anyOf"] = new JsonArray(result, new JsonObject { ["type"] = "null" }) };
    }

    // 3.0: `exclusiveMinimum: true` makes `minimum` exclusive; 2020-12: `exclusiveMinimum` is the bound itself.
    static void Exclusive(JsonObject schema, string exclusive, string bound)
    {
        if (schema[exclusive] is not JsonValue flag || flag.GetValueKind() is not (JsonValueKind.True or JsonValueKind.False))
        {
            return;
        }

        schema.Remove(exclusive);
        if (flag.GetValueKind() == JsonValueKind.True && schema[bound] is { } value)
        {
            schema.Remove(bound);
            schema[exclusive] = value;
        }
    }
}
