using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FetchApi.IntegrationTests.Contract;

/// <summary>
/// One request and its response as the client saw them. <see cref="Body"/> is null when it was not captured: HEAD
/// responses and Server-Sent Events streams, whose status and headers are checked but not their body.
/// <see cref="Credentials"/>: the request carried an Authorization header.
/// </summary>
public sealed record Exchange(string Method, string Path, string Query, int Status, string? ContentType,
    IReadOnlyDictionary<string, string> Headers, ReadOnlyMemory<byte>? Body, bool Credentials = false)
{
    public override string ToString() => $"{Method} {Path}{Query} → {Status}";
}

/// <summary>
/// What the document says about one exchange: the documented operation it belongs to (<c>GET /batches/{id}</c>) and
/// the documented response that applies (<c>200</c>, <c>4XX</c>, <c>default</c>), when there are, and every way the
/// response breaks the document.
/// </summary>
public sealed record Verdict(string? Operation, string? Response, IReadOnlyList<string> Violations);

/// <summary>
/// Checks responses against an OpenAPI 3.0 document: the path and method must be a documented operation (HEAD counts
/// as GET without a body), the status a documented response of it, the Content-Type one of that response's media
/// types, a JSON body (or each line of an NDJSON body) valid under the media type's schema, and every required response header present and valid.
/// An operation that requires credentials must not succeed without them.
/// </summary>
public sealed class DocumentValidator
{
    static readonly string[] Methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

    readonly JsonObject _document;
    readonly OpenApiSchemas _schemas;
    readonly List<(string Template, string[] Segments, JsonObject Item)> _paths;

    public DocumentValidator(JsonObject document)
    {
        _document = document;
        _schemas = new OpenApiSchemas(document["components"]?["schemas"] as JsonObject ?? []);
        _paths = [.. (document["paths"] as JsonObject ?? []).Select(p => (p.Key, Segments(p.Key), p.Value!.AsObject()))];
    }

    /// <summary>Every documented operation (<c>POST /batches</c>) with the keys of its documented responses.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Operations =>
        _paths.SelectMany(p => Methods.Where(m => p.Item[m] is JsonObject).Select(m => (
                Name: $"{m.ToUpperInvariant()} {p.Template}",
                Responses: (IReadOnlyList<string>)[.. (p.Item[m]!["responses"] as JsonObject ?? []).Select(r => r.Key)])))
            .ToDictionary(o => o.Name, o => o.Responses);

    public Verdict Validate(Exchange exchange)
    {
        var isHead = exchange.Method.Equals("HEAD", StringComparison.OrdinalIgnoreCase);
        var method = isHead ? "get" : exchange.Method.ToLowerInvariant();
        if (FindPath(exchange.Path) is not { } path)
        {
            return new(null, null, [$"no documented path matches {exchange.Path}"]);
        }

        if (path.Item[method] is not JsonObject operation)
        {
            var documented = Methods.Where(m => path.Item[m] is JsonObject).Select(m => m.ToUpperInvariant());
            return new(null, null, [$"{exchange.Method} is not documented for {path.Template} (documented: {string.Join(", ", documented)})"]);
        }

        var name = $"{method.ToUpperInvariant()} {path.Template}";
        var responses = operation["responses"] as JsonObject ?? [];
        var status = exchange.Status.ToString(CultureInfo.InvariantCulture);
        var key = new[] { status, $"{status[0]}XX", "default" }.FirstOrDefault(responses.ContainsKey);
        if (key is null)
        {
            return new(name, null, [$"status {status} is not documented for {name} (documented: {string.Join(", ", responses.Select(r => r.Key))})"]);
        }

        var response = Resolve(responses[key]!);
        var violations = new List<string>();
        var security = operation["security"] as JsonArray ?? _document["security"] as JsonArray;
        if (!exchange.Credentials && exchange.Status is >= 200 and < 300
            && security is { Count: > 0 } && security.All(r => r is JsonObject { Count: > 0 }))
        {
            var schemes = string.Join(" or ", security.Select(r => string.Join(" and ", r!.AsObject().Select(s => s.Key))));
            violations.Add($"{name} requires credentials ({schemes}), but a request without any got {status}");
        }

        CheckHeaders(response, exchange, violations);
        CheckContent(response, exchange, isHead, violations);
        return new(name, key, violations);
    }

    void CheckHeaders(JsonObject response, Exchange exchange, List<string> violations)
    {
        foreach (var (name, node) in response["headers"] as JsonObject ?? [])
        {
            // OpenAPI: a Content-Type entry in `headers` is ignored; the content map says it.
            if (name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var header = Resolve(node!);
            if (!exchange.Headers.TryGetValue(name, out var value))
            {
                if (header["required"]?.GetValueKind() == JsonValueKind.True)
                {
                    violations.Add($"the required header {name} is missing");
                }

                continue;
            }

            if (header["schema"] is { } schema)
            {
                using var parsed = JsonDocument.Parse(HeaderValue(value, _schemas.TypeOf(schema)).ToJsonString());
                violations.AddRange(_schemas.Validate(schema, parsed.RootElement).Select(e => $"header {name} '{value}': {e}"));
            }
        }
    }

    // A header is text; its schema describes the value it stands for (`Retry-After: 30` is the integer 30).
    static JsonValue HeaderValue(string value, string? type) => type switch
    {
        "integer" or "number" when decimal.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) => JsonValue.Create(number),
        "boolean" when bool.TryParse(value, out var flag) && value is "true" or "false" => JsonValue.Create(flag),
        _ => JsonValue.Create(value),
    };

    void CheckContent(JsonObject response, Exchange exchange, bool isHead, List<string> violations)
    {
        var content = response["content"] as JsonObject ?? [];
        var mediaType = MediaTypeHeaderValue.TryParse(exchange.ContentType, out var parsed) ? parsed.MediaType?.ToLowerInvariant() : null;
        var bodyLength = exchange.Body?.Length ?? 0;
        if (content.Count == 0)
        {
            if (bodyLength > 0 || (exchange.Body is null && !isHead && mediaType is not null))
            {
                var size = exchange.Body is null ? "streamed, not captured" : $"{bodyLength} bytes";
                violations.Add($"the response documents no content, but it has a body ({mediaType ?? "no Content-Type"}, {size})");
            }

            return;
        }

        var documented = string.Join(", ", content.Select(c => c.Key));
        if (mediaType is null)
        {
            if (!isHead)
            {
                violations.Add($"the response has no Content-Type; documented: {documented}");
            }

            return;
        }

        if (MatchingMedia(content, mediaType) is not { } media)
        {
            violations.Add($"Content-Type {mediaType} is not documented for this response; documented: {documented}");
            return;
        }

        if (exchange.Body is not { } body || media["schema"] is not { } schema)
        {
            return;
        }

        if (IsJson(mediaType))
        {
            if (body.Length == 0)
            {
                violations.Add($"the {mediaType} body is empty");
                return;
            }

            CheckJson(schema, body, $"the {mediaType} body", "", violations);
        }
        else if (IsJsonLines(mediaType) && _schemas.TypeOf(schema) != "string")
        {
            // One JSON value per line, each described by the schema (a string schema describes the body as a whole).
            var lines = Encoding.UTF8.GetString(body.Span).Split('\n');
            for (var i = 0; i < lines.Length; i++)
            {
                if (lines[i].Trim().Length > 0)
                {
                    CheckJson(schema, Encoding.UTF8.GetBytes(lines[i]), $"line {i + 1}", $"line {i + 1}: ", violations);
                }
            }
        }
    }

    void CheckJson(JsonNode schema, ReadOnlyMemory<byte> json, string what, string prefix, List<string> violations)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            violations.AddRange(_schemas.Validate(schema, document.RootElement).Select(v => prefix + v));
        }
        catch (JsonException ex)
        {
            violations.Add($"{what} is not JSON: {ex.Message}");
        }
    }

    static JsonObject? MatchingMedia(JsonObject content, string mediaType)
    {
        string Bare(string key) => key.Split(';')[0].Trim().ToLowerInvariant();
        var slash = mediaType.IndexOf('/', StringComparison.Ordinal);
        var wildcard = slash < 0 ? "*/*" : mediaType[..slash] + "/*";
        return (content.FirstOrDefault(c => Bare(c.Key) == mediaType).Value
                ?? content.FirstOrDefault(c => Bare(c.Key) == wildcard).Value
                ?? content.FirstOrDefault(c => Bare(c.Key) == "*/*").Value) as JsonObject;
    }

    static bool IsJson(string mediaType) => mediaType == "application/json" || mediaType.EndsWith("+json", StringComparison.Ordinal);

    static bool IsJsonLines(string mediaType) => mediaType is "application/x-ndjson" or "application/jsonl" or "application/jsonlines";

    static string[] Segments(string path) => path.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>The documented path a request path falls under; literal segments win over templated ones.</summary>
    (string Template, JsonObject Item)? FindPath(string path)
    {
        var segments = Segments(path);
        static bool IsParameter(string s) => s.StartsWith('{') && s.EndsWith('}');
        return _paths
            .Where(p => p.Segments.Length == segments.Length
                        && p.Segments.Zip(segments).All(s => IsParameter(s.First) || s.First.Equals(s.Second, StringComparison.OrdinalIgnoreCase)))
            .OrderByDescending(p => p.Segments.Count(s => !IsParameter(s)))
            .Select(p => ((string, JsonObject)?)(p.Template, p.Item))
            .FirstOrDefault();
    }

    /// <summary>Follows local <c>$ref</c>s (<c>#/components/responses/X</c>, <c>#/components/headers/X</c>).</summary>
    JsonObject Resolve(JsonNode node)
    {
        for (var depth = 0; depth < 16; depth++)
        {
            if (node is not JsonObject o || o["$ref"]?.GetValue<string>() is not { } reference)
            {
                break;
            }

            JsonNode? target = _document;
            foreach (var part in reference.TrimStart('#').Split('/', StringSplitOptions.RemoveEmptyEntries))
            {
                target = target?[part.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal)];
            }

            node = target ?? throw new InvalidOperationException($"the document has no {reference}");
        }

        return node.AsObject();
    }
}
