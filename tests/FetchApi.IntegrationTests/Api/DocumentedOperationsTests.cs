using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FetchApi.IntegrationTests.Upstream;

// Not FetchApi.IntegrationTests.Api: that name is taken by the Api helper class.
namespace FetchApi.IntegrationTests.ApiTests;

/// <summary>
/// The OpenAPI document against the live service: every documented operation gets its documented requests, on hosts of
/// this test's own, so that the check does not depend on what the rest of the suite happens to send. Each response is
/// checked against the document as every exchange is (<see cref="FetchApiFactory.Exchanges"/>: a violation fails this
/// test); then every documented response the test provokes must have been seen.
/// </summary>
public sealed class DocumentedOperationsTests : IAsyncLifetime
{
    const string Key = "documented-operations-key";
    const int MaxBodyBytes = 4096;
    const int MaxBacklog = 4;

    /// <summary>What the test provokes besides 401 and 429 (provoked for every operation that documents them).</summary>
    static readonly HashSet<string> Provoked =
    [
        "POST /batches 202", "POST /batches 200", "POST /batches 400", "POST /batches 413", "POST /batches 415",
        "POST /batches 422", "POST /batches 503",
        "GET /batches 200", "GET /batches 400",
        "GET /batches/{id} 200", "GET /batches/{id} 400", "GET /batches/{id} 404",
        "GET /batches/{id}/events 200", "GET /batches/{id}/events 204", "GET /batches/{id}/events 400", "GET /batches/{id}/events 404",
        "GET /batches/{id}/results 200", "GET /batches/{id}/results 400", "GET /batches/{id}/results 404",
        "POST /batches/{id}/cancel 200", "POST /batches/{id}/cancel 404", "POST /batches/{id}/cancel 409",
        "DELETE /batches/{id} 204", "DELETE /batches/{id} 404",
        "GET /health/live 200", "GET /health/ready 200",
        "GET /problems 200", "GET /problems/{code} 200", "GET /problems/{code} 404",
        "POST /urls/check 200", "POST /urls/check 400", "POST /urls/check 413", "POST /urls/check 415",
    ];

    readonly FetchApiFactory _open = new(new Dictionary<string, string?>
    {
        ["Batches:MaxRequestBodyBytes"] = $"{MaxBodyBytes}",
        ["Engine:MaxBacklog"] = $"{MaxBacklog}",
    });

    readonly FetchApiFactory _keyed = new(new Dictionary<string, string?>
    {
        ["Security:ApiKeys:0:Name"] = "documented",
        ["Security:ApiKeys:0:Key"] = Key,
        ["RateLimiting:CreatePerSecond"] = "1",
        ["RateLimiting:CreateBurst"] = "1",
        ["RateLimiting:CheckPerSecond"] = "1",
        ["RateLimiting:CheckBurst"] = "1",
        ["RateLimiting:ApiPerSecond"] = "1",
        ["RateLimiting:ApiBurst"] = "1",
    });

    UpstreamServer _upstream = null!;
    HttpClient _client = null!;

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _upstream = await UpstreamServer.StartAsync();
        _client = _open.CreateClient();
    }

    public async ValueTask DisposeAsync()
    {
        _client?.Dispose();
        await _open.DisposeAsync();
        await _keyed.DisposeAsync();
        if (_upstream is not null)
        {
            await _upstream.DisposeAsync();
        }
    }

    [Fact]
    public async Task EveryDocumentedOperationAnswersAsDocumented()
    {
        var operations = (await _open.Exchanges.ValidatorAsync()).Operations;

        var done = await CreateBatchAsync();
        await ReadBatchAsync(done);
        await ExportResultsAsync(done, operations);
        await StreamEventsAsync(done, operations);
        await ListBatchesAsync();
        await CancelAndDeleteAsync(done);
        await HeadAndOtherReadsAsync(done, operations);
        await CheckUrlsAsync(operations);
        await UnauthorizedAndRateLimitedAsync(operations);

        var seen = _open.Exchanges.Seen.Concat(_keyed.Exchanges.Seen).ToHashSet();
        var documented = operations.SelectMany(o => o.Value.Select(status => $"{o.Key} {status}")).ToList();
        var missing = documented.Where(p => (Provoked.Contains(p) || p.EndsWith(" 401", StringComparison.Ordinal) || p.EndsWith(" 429", StringComparison.Ordinal))
                                            && !seen.Contains(p)).ToList();
        var untouched = operations.Keys.Where(o => !seen.Any(s => s.StartsWith(o + " ", StringComparison.Ordinal))).ToList();
        TestContext.Current.TestOutputHelper?.WriteLine("Seen and checked: " + string.Join(", ", seen.Order(StringComparer.Ordinal)));
        TestContext.Current.TestOutputHelper?.WriteLine("Documented, not provoked here: " + string.Join(", ", documented.Except(seen)));

        Assert.True(missing.Count == 0, "documented responses this test provokes but did not see: " + string.Join(", ", missing));
        Assert.True(untouched.Count == 0, "documented operations this test does not send: " + string.Join(", ", untouched));
    }

    StringContent Batch(params string[] paths) =>
        new(JsonSerializer.Serialize(new { urls = paths.Select(_upstream.Url) }), Encoding.UTF8, "application/json");

    static async Task<JsonNode?> ExpectAsync(HttpClient client, HttpRequestMessage request, HttpStatusCode expected)
    {
        using (request)
        {
            using var response = await client.SendAsync(request, Ct);
            var text = await response.Content.ReadAsStringAsync(Ct);
            Assert.True(response.StatusCode == expected,
                $"{request.Method} {request.RequestUri}: expected {(int)expected}, got {(int)response.StatusCode}: {text}");
            return text.Length > 0 && response.Content.Headers.ContentType?.MediaType is "application/json" or "application/problem+json"
                ? JsonNode.Parse(text)
                : null;
        }
    }

    Task<JsonNode?> ExpectAsync(HttpMethod method, string path, HttpStatusCode expected, HttpContent? content = null, params (string, string)[] headers)
    {
        var request = new HttpRequestMessage(method, path) { Content = content };
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return ExpectAsync(_client, request, expected);
    }

    /// <summary>POST /batches: refused, accepted, waited for, replayed. Returns a completed batch of three slots.</summary>
    async Task<Guid> CreateBatchAsync()
    {
        await ExpectAsync(HttpMethod.Post, "/batches", HttpStatusCode.BadRequest,
            new StringContent("""{"urls":["ftp://127.0.0.1/file"]}""", Encoding.UTF8, "application/json"));
        await ExpectAsync(HttpMethod.Post, "/batches", HttpStatusCode.UnsupportedMediaType,
            new StringContent("""{"urls":["http://127.0.0.1/"]}""", Encoding.UTF8, "text/plain"));
        await ExpectAsync(HttpMethod.Post, "/batches", HttpStatusCode.RequestEntityTooLarge,
            new StringContent("""{"urls":["http://127.0.0.1/"]}""" + new string(' ', MaxBodyBytes), Encoding.UTF8, "application/json"));

        var accepted = await ExpectAsync(HttpMethod.Post, "/batches", HttpStatusCode.Accepted, Batch("/ok"), ("Idempotency-Key", "documented-1"));
        await ExpectAsync(HttpMethod.Post, "/batches", HttpStatusCode.Accepted, Batch("/ok"), ("Idempotency-Key", "documented-1"));
        await ExpectAsync(HttpMethod.Post, "/batches", HttpStatusCode.UnprocessableEntity, Batch("/text"), ("Idempotency-Key", "documented-1"));
        await _client.WaitUntilDoneAsync(accepted!["id"]!.GetValue<Guid>());

        var waited = await ExpectAsync(HttpMethod.Post, "/batches", HttpStatusCode.OK, Batch("/ok", "/text", "/status/404"), ("Prefer", "wait=30"));
        return waited!["id"]!.GetValue<Guid>();
    }

    /// <summary>GET /batches/{id}: every page of the slots, the summary alone, a bad query, an unknown batch.</summary>
    async Task ReadBatchAsync(Guid id)
    {
        for (var next = $"/batches/{id}?limit=1"; next is not null;)
        {
            next = (await ExpectAsync(HttpMethod.Get, next, HttpStatusCode.OK))!["next"]?.GetValue<string>();
        }

        await ExpectAsync(HttpMethod.Get, $"/batches/{id}?results=false", HttpStatusCode.OK);
        await ExpectAsync(HttpMethod.Get, $"/batches/{id}?state=failed&limit=10", HttpStatusCode.OK);
        await ExpectAsync(HttpMethod.Get, $"/batches/{id}?limit=many", HttpStatusCode.BadRequest);
        await ExpectAsync(HttpMethod.Get, $"/batches/{Guid.CreateVersion7()}", HttpStatusCode.NotFound);
    }

    /// <summary>GET /batches/{id}/results, where documented: every slot as one stream, a bad filter, an unknown batch.</summary>
    async Task ExportResultsAsync(Guid id, IReadOnlyDictionary<string, IReadOnlyList<string>> operations)
    {
        if (!operations.ContainsKey("GET /batches/{id}/results"))
        {
            return;
        }

        await ExpectAsync(HttpMethod.Get, $"/batches/{id}/results", HttpStatusCode.OK);
        await ExpectAsync(HttpMethod.Get, $"/batches/{id}/results?state=fetched", HttpStatusCode.OK);
        await ExpectAsync(HttpMethod.Get, $"/batches/{id}/results?state=finished", HttpStatusCode.BadRequest);
        await ExpectAsync(HttpMethod.Get, $"/batches/{Guid.CreateVersion7()}/results", HttpStatusCode.NotFound);
    }

    /// <summary>GET /batches/{id}/events: the whole stream of an ended batch, a reconnect after its end, a bad Last-Event-ID, an unknown batch.</summary>
    async Task StreamEventsAsync(Guid id, IReadOnlyDictionary<string, IReadOnlyList<string>> operations)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(Api.DefaultDeadline);
        string? lastId = null;
        using (var response = await _client.GetAsync($"/batches/{id}/events", HttpCompletionOption.ResponseHeadersRead, deadline.Token))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(deadline.Token));
            while (await reader.ReadLineAsync(deadline.Token) is { } line)
            {
                lastId = line.StartsWith("id: ", StringComparison.Ordinal) ? line[4..] : lastId;
            }
        }

        if (operations["GET /batches/{id}/events"].Contains("204"))
        {
            Assert.NotNull(lastId);
            await ExpectAsync(HttpMethod.Get, $"/batches/{id}/events", HttpStatusCode.NoContent, null, ("Last-Event-ID", lastId));
        }

        await ExpectAsync(HttpMethod.Get, $"/batches/{id}/events", HttpStatusCode.BadRequest, null, ("Last-Event-ID", "not-an-id"));
        await ExpectAsync(HttpMethod.Get, $"/batches/{Guid.CreateVersion7()}/events", HttpStatusCode.NotFound);
    }

    /// <summary>GET /batches: every page through the cursor, and a bad status.</summary>
    async Task ListBatchesAsync()
    {
        var pages = 0;
        for (var next = "/batches?limit=1"; next is not null; pages++)
        {
            next = (await ExpectAsync(HttpMethod.Get, next, HttpStatusCode.OK))!["next"]?.GetValue<string>();
        }

        Assert.True(pages > 1, "the listing should have taken more than one page");
        await ExpectAsync(HttpMethod.Get, "/batches?status=finished", HttpStatusCode.BadRequest);
    }

    /// <summary>A batch that fills the backlog (so a second is refused with 503), cancelled; cancel and delete, known or not.</summary>
    async Task CancelAndDeleteAsync(Guid completed)
    {
        var hanging = new StringContent(JsonSerializer.Serialize(new
        {
            urls = Enumerable.Range(0, MaxBacklog).Select(i => _upstream.Url($"/hang?i={i}")),
            options = new { concurrency = 1, timeoutSeconds = 60 },
        }), Encoding.UTF8, "application/json");
        var running = (await ExpectAsync(HttpMethod.Post, "/batches", HttpStatusCode.Accepted, hanging))!["id"]!.GetValue<Guid>();
        await ExpectAsync(HttpMethod.Post, "/batches", HttpStatusCode.ServiceUnavailable, Batch("/ok", "/ok"));

        await ExpectAsync(HttpMethod.Post, $"/batches/{running}/cancel", HttpStatusCode.OK);
        await ExpectAsync(HttpMethod.Post, $"/batches/{completed}/cancel", HttpStatusCode.Conflict);
        await ExpectAsync(HttpMethod.Post, $"/batches/{Guid.CreateVersion7()}/cancel", HttpStatusCode.NotFound);

        await ExpectAsync(HttpMethod.Delete, $"/batches/{running}", HttpStatusCode.NoContent);
        await ExpectAsync(HttpMethod.Delete, $"/batches/{running}", HttpStatusCode.NotFound);
    }

    /// <summary>
    /// HEAD on every documented GET (served for each, checked as GET without a body), and the documented GETs not sent
    /// above (health, problem types): each with the status a client expects.
    /// </summary>
    async Task HeadAndOtherReadsAsync(Guid id, IReadOnlyDictionary<string, IReadOnlyList<string>> operations)
    {
        foreach (var operation in operations.Keys.Where(o => o.StartsWith("GET ", StringComparison.Ordinal)))
        {
            using var head = await _client.SendAsync(new HttpRequestMessage(HttpMethod.Head, PathOf(operation, id, "not_found")), Ct);
        }

        foreach (var operation in operations.Keys.Where(o => o.StartsWith("GET /health/", StringComparison.Ordinal) || o == "GET /problems"))
        {
            await ExpectAsync(HttpMethod.Get, PathOf(operation, id, ""), HttpStatusCode.OK);
        }

        if (operations.ContainsKey("GET /problems/{code}"))
        {
            await ExpectAsync(HttpMethod.Get, PathOf("GET /problems/{code}", id, "not_found"), HttpStatusCode.OK);
            await ExpectAsync(HttpMethod.Get, PathOf("GET /problems/{code}", id, "no_such_code"), HttpStatusCode.NotFound);
        }
    }

    /// <summary>POST /urls/check, where documented: verdicts, a body without urls, a body too large, a body that is not JSON.</summary>
    async Task CheckUrlsAsync(IReadOnlyDictionary<string, IReadOnlyList<string>> operations)
    {
        if (!operations.ContainsKey("POST /urls/check"))
        {
            return;
        }

        static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");
        await ExpectAsync(HttpMethod.Post, "/urls/check", HttpStatusCode.OK, Json("""{"urls":["http://127.0.0.1/","ftp://127.0.0.1/","http://127.0.0.1:80/"]}"""));
        await ExpectAsync(HttpMethod.Post, "/urls/check", HttpStatusCode.BadRequest, Json("{}"));
        await ExpectAsync(HttpMethod.Post, "/urls/check", HttpStatusCode.RequestEntityTooLarge,
            Json("""{"urls":["http://127.0.0.1/"]}""" + new string(' ', MaxBodyBytes)));
        await ExpectAsync(HttpMethod.Post, "/urls/check", HttpStatusCode.UnsupportedMediaType,
            new StringContent("""{"urls":["http://127.0.0.1/"]}""", Encoding.UTF8, "text/plain"));
    }

    /// <summary>Every operation that documents 401, without a key; every one that documents 429, with a key, until the limit answers.</summary>
    async Task UnauthorizedAndRateLimitedAsync(IReadOnlyDictionary<string, IReadOnlyList<string>> operations)
    {
        using var anonymous = _keyed.CreateClient();
        using var keyed = _keyed.CreateClient();
        keyed.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        var id = Guid.CreateVersion7();
        foreach (var (operation, statuses) in operations)
        {
            if (statuses.Contains("401"))
            {
                await ExpectAsync(anonymous, Request(operation, id), HttpStatusCode.Unauthorized);
            }

            if (statuses.Contains("429"))
            {
                await Api.EventuallyAsync(async () =>
                {
                    using var request = Request(operation, id);
                    using var response = await keyed.SendAsync(request, Ct);
                    return response.StatusCode == HttpStatusCode.TooManyRequests;
                }, $"{operation} never answered 429 with a limit of one request per second");
            }
        }
    }

    HttpRequestMessage Request(string operation, Guid id)
    {
        var method = new HttpMethod(operation[..operation.IndexOf(' ', StringComparison.Ordinal)]);
        return new HttpRequestMessage(method, PathOf(operation, id, "not_found"))
        {
            // Every POST but cancel takes a list of URLs.
            Content = method == HttpMethod.Post && !operation.EndsWith("/cancel", StringComparison.Ordinal) ? Batch("/ok") : null,
        };
    }

    /// <summary>The path of <paramref name="operation"/> with <c>{id}</c> and any other parameter filled in.</summary>
    static string PathOf(string operation, Guid id, string other)
    {
        var path = operation[(operation.IndexOf(' ', StringComparison.Ordinal) + 1)..].Replace("{id}", id.ToString(), StringComparison.Ordinal);
        while (path.IndexOf('{', StringComparison.Ordinal) is var start and >= 0)
        {
            path = path[..start] + other + path[(path.IndexOf('}', start) + 1)..];
        }

        return path;
    }
}
