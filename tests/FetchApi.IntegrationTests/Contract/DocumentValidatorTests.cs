using System.Text;
using System.Text.Json.Nodes;

namespace FetchApi.IntegrationTests.Contract;

/// <summary>The checking itself, on a tiny OpenAPI 3.0 document: what it must refuse, and what it must let through.</summary>
public sealed class DocumentValidatorTests
{
    const string Document = """
        {
          "openapi": "3.0.4",
          "paths": {
            "/things": {
              "post": {
                "responses": {
                  "201": {
                    "description": "Created",
                    "headers": {
                      "Location": { "required": true, "schema": { "type": "string" } },
                      "Retry-After": { "schema": { "type": "integer", "minimum": 0 } }
                    },
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Thing" } } }
                  },
                  "400": { "$ref": "#/components/responses/Problem" }
                }
              }
            },
            "/things/{id}": {
              "get": {
                "responses": {
                  "200": { "description": "OK", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Thing" } } } },
                  "default": { "$ref": "#/components/responses/Problem" }
                }
              },
              "delete": { "security": [{ "Bearer": [] }], "responses": { "204": { "description": "No Content" } } }
            },
            "/things/{id}/lines": {
              "get": { "responses": { "200": { "description": "OK", "content": { "application/x-ndjson": { "schema": { "$ref": "#/components/schemas/Thing" } } } } } }
            },
            "/things/{id}/text": {
              "get": { "responses": { "200": { "description": "OK", "content": { "application/x-ndjson": { "schema": { "type": "string", "format": "binary" } } } } } }
            },
            "/things/{id}/events": {
              "get": { "responses": { "200": { "description": "OK", "content": { "text/event-stream": { "schema": { "type": "string" } } } } } }
            }
          },
          "components": {
            "responses": {
              "Problem": { "description": "A problem", "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } }
            },
            "schemas": {
              "Thing": {
                "type": "object",
                "required": ["id", "kind", "size"],
                "additionalProperties": false,
                "properties": {
                  "id": { "type": "string", "format": "uuid" },
                  "kind": { "$ref": "#/components/schemas/Kind" },
                  "size": { "type": "integer", "format": "int32", "minimum": 0, "exclusiveMinimum": true },
                  "at": { "type": "string", "format": "date-time", "nullable": true },
                  "next": { "type": "string", "format": "uri-reference", "nullable": true }
                }
              },
              "Kind": { "type": "string", "enum": ["small", "large"] },
              "Problem": { "type": "object", "required": ["status"], "properties": { "status": { "type": "integer" } } }
            }
          }
        }
        """;

    const string Id = "0198f3a0-52c4-7c59-a1b2-3c4d5e6f7a8b";
    const string Good = $$"""{"id":"{{Id}}","kind":"small","size":3,"at":null,"next":"/things?after=3"}""";

    static readonly DocumentValidator Validator = new(JsonNode.Parse(Document)!.AsObject());

    static Verdict Check(string method, string path, int status, string? contentType, string? body, params (string, string)[] headers) =>
        Validator.Validate(new Exchange(method, path, "", status, contentType,
            headers.ToDictionary(h => h.Item1, h => h.Item2, StringComparer.OrdinalIgnoreCase),
            body is null ? (ReadOnlyMemory<byte>?)null : Encoding.UTF8.GetBytes(body), Credentials: method == "DELETE"));

    static void AssertOneViolation(Verdict verdict, string expected)
    {
        Assert.True(verdict.Violations.Count == 1 && verdict.Violations[0].Contains(expected, StringComparison.Ordinal),
            $"expected one violation containing '{expected}', got: [{string.Join(" | ", verdict.Violations)}]");
    }

    [Fact]
    public void ADocumentedResponseHasNoViolation()
    {
        var verdict = Check("POST", "/things", 201, "application/json; charset=utf-8", Good, ("Location", "/things/1"), ("Retry-After", "3"));

        Assert.Empty(verdict.Violations);
        Assert.Equal(("POST /things", "201"), (verdict.Operation, verdict.Response));
    }

    [Theory]
    [InlineData("a required property is missing", $$"""{"id":"{{Id}}","kind":"small"}""", "required")]
    [InlineData("a property the schema does not have", $$"""{"id":"{{Id}}","kind":"small","size":1,"extra":1}""", "additionalProperties")]
    [InlineData("null where the schema is not nullable", $$"""{"id":"{{Id}}","kind":null,"size":1}""", "/kind")]
    [InlineData("a value outside the enum", $$"""{"id":"{{Id}}","kind":"medium","size":1}""", "enum")]
    [InlineData("a malformed uuid", """{"id":"not-a-uuid","kind":"small","size":1}""", "/id")]
    [InlineData("a malformed date-time", $$"""{"id":"{{Id}}","kind":"small","size":1,"at":"yesterday"}""", "/at")]
    [InlineData("an integer beyond int32", $$"""{"id":"{{Id}}","kind":"small","size":3000000000}""", "/size")]
    [InlineData("a value at an exclusive minimum", $$"""{"id":"{{Id}}","kind":"small","size":0}""", "/size")]
    [InlineData("a number where an integer is due", $$"""{"id":"{{Id}}","kind":"small","size":1.5}""", "/size")]
    [InlineData("a body that is not JSON", "{\"id\":", "not JSON")]
    public void ABodyThatBreaksItsSchemaIsAViolation(string why, string body, string expected)
    {
        Assert.NotEmpty(why);
        var verdict = Check("GET", $"/things/{Id}", 200, "application/json", body);

        Assert.True(verdict.Violations.Any(v => v.Contains(expected, StringComparison.Ordinal)),
            $"expected a violation containing '{expected}', got: [{string.Join(" | ", verdict.Violations)}]");
    }

    [Fact]
    public void NullIsAllowedWhereTheSchemaIsNullable()
    {
        Assert.Empty(Check("GET", $"/things/{Id}", 200, "application/json", $$"""{"id":"{{Id}}","kind":"large","size":1,"at":null,"next":null}""").Violations);
    }

    [Fact]
    public void AnUndocumentedStatusIsAViolationUnlessTheOperationHasADefault()
    {
        AssertOneViolation(Check("POST", "/things", 409, "application/problem+json", """{"status":409}"""), "status 409 is not documented for POST /things");

        var verdict = Check("GET", $"/things/{Id}", 409, "application/problem+json", """{"status":409}""");
        Assert.Empty(verdict.Violations);
        Assert.Equal("default", verdict.Response);
    }

    [Fact]
    public void AnUndocumentedContentTypeIsAViolation()
    {
        AssertOneViolation(Check("POST", "/things", 400, "application/json", """{"status":400}"""), "Content-Type application/json is not documented");
    }

    [Fact]
    public void AMissingRequiredHeaderOrAHeaderBreakingItsSchemaIsAViolation()
    {
        AssertOneViolation(Check("POST", "/things", 201, "application/json", Good), "required header Location is missing");
        AssertOneViolation(Check("POST", "/things", 201, "application/json", Good, ("Location", "/things/1"), ("Retry-After", "soon")), "header Retry-After");
    }

    [Fact]
    public void AnUndocumentedPathOrMethodIsAViolationWithoutAnOperation()
    {
        var path = Check("GET", "/nothing", 404, "application/problem+json", """{"status":404}""");
        var method = Check("PUT", $"/things/{Id}", 405, "application/problem+json", """{"status":405}""");

        AssertOneViolation(path, "no documented path matches /nothing");
        AssertOneViolation(method, $"PUT is not documented for /things/{{id}} (documented: GET, DELETE)");
        Assert.Null(path.Operation);
        Assert.Null(method.Operation);
    }

    [Fact]
    public void HeadIsCheckedAsGetWithoutItsBody()
    {
        var verdict = Check("HEAD", $"/things/{Id}", 200, "application/json", null);

        Assert.Empty(verdict.Violations);
        Assert.Equal("GET /things/{id}", verdict.Operation);
        AssertOneViolation(Check("HEAD", $"/things/{Id}/events", 405, null, null), "status 405 is not documented");
    }

    [Fact]
    public void AResponseDocumentedWithoutContentMustHaveNoBody()
    {
        Assert.Empty(Check("DELETE", $"/things/{Id}", 204, null, "").Violations);
        AssertOneViolation(Check("DELETE", $"/things/{Id}", 204, "application/json", "{}"), "documents no content");
    }

    [Fact]
    public void AnOperationThatRequiresCredentialsMustNotSucceedWithoutThem()
    {
        var verdict = Validator.Validate(new Exchange("DELETE", $"/things/{Id}", "", 204, null, new Dictionary<string, string>(), null));

        AssertOneViolation(verdict, "DELETE /things/{id} requires credentials (Bearer), but a request without any got 204");
    }

    [Fact]
    public void EachLineOfAnNdjsonBodyIsCheckedAgainstTheSchema()
    {
        Assert.Empty(Check("GET", $"/things/{Id}/lines", 200, "application/x-ndjson", Good + "\n" + Good + "\n").Violations);
        AssertOneViolation(Check("GET", $"/things/{Id}/lines", 200, "application/x-ndjson", Good + "\n{\"kind\":\"small\"}\n"), "line 2: (body): required");
        Assert.Empty(Check("GET", $"/things/{Id}/text", 200, "application/x-ndjson", Good + "\n").Violations);
    }

    [Fact]
    public void AnEventStreamIsCheckedForItsContentTypeOnly()
    {
        Assert.Empty(Check("GET", $"/things/{Id}/events", 200, "text/event-stream", null).Violations);
        AssertOneViolation(Check("GET", $"/things/{Id}/events", 200, "application/json", null), "Content-Type application/json is not documented");
    }

    [Fact]
    public void OperationsListEveryDocumentedResponse()
    {
        Assert.Equal(["201", "400"], Validator.Operations["POST /things"]);
        Assert.Equal(["200", "default"], Validator.Operations["GET /things/{id}"]);
        Assert.Equal(6, Validator.Operations.Count);
    }
}
