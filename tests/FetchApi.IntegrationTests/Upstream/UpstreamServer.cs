using System.Collections.Concurrent;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;

namespace FetchApi.IntegrationTests.Upstream;

/// <summary>
/// A real HTTP server on loopback (Kestrel on 127.0.0.1:0) with one route per behaviour the engine must handle.
/// It counts requests and the most it ever had in flight, per <c>?group=</c> and in total.
/// </summary>
public sealed class UpstreamServer : IAsyncDisposable
{
    readonly WebApplication _app;
    readonly ConcurrentDictionary<string, int> _failures = new();
    readonly ConcurrentDictionary<string, ConcurrentQueue<DateTimeOffset>> _hits = new();
    readonly ConcurrentDictionary<string, int> _perUrl = new();
    readonly ConcurrentQueue<ReceivedCallback> _callbacks = new();
    readonly ConcurrentDictionary<string, (string ContentType, byte[] Body)> _served = new();
    readonly Lock _gate = new();
    readonly Dictionary<string, (int Now, int Max)> _inFlight = [];
    int _requests;

    UpstreamServer(WebApplication app) => _app = app;

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>Requests received so far, all routes.</summary>
    readonly ConcurrentDictionary<string, TaskCompletionSource> _gates = new();

    public int Requests => Volatile.Read(ref _requests);

    /// <summary>One request as it arrived: path and query, User-Agent, time.</summary>
    public sealed record Arrival(string PathAndQuery, string UserAgent, DateTimeOffset At);

    readonly ConcurrentQueue<Arrival> _arrivals = new();

    /// <summary>Every request so far, in arrival order.</summary>
    public IReadOnlyList<Arrival> Arrivals => [.. _arrivals];

    /// <summary>What <c>/robots.txt</c> answers.</summary>
    public (int Status, string Body) Robots { get; set; } = (404, "");

    /// <summary>The URL of <paramref name="pathAndQuery"/> on this server.</summary>
    public string Url(string pathAndQuery) => new Uri(BaseAddress, pathAndQuery).AbsoluteUri;

    /// <summary>Most requests of <paramref name="group"/> ever in flight at once ("*" for all).</summary>
    public int MaxInFlight(string group = "*")
    {
        lock (_gate)
        {
            return _inFlight.TryGetValue(group, out var v) ? v.Max : 0;
        }
    }

    /// <summary>A POST received on <c>/hook/{key}</c>.</summary>
    public sealed record ReceivedCallback(string Key, byte[] Body, IReadOnlyDictionary<string, string> Headers, bool Accepted);

    /// <summary>Every POST to <c>/hook/{key}</c>, accepted or not, in arrival order.</summary>
    public IReadOnlyList<ReceivedCallback> Callbacks => [.. _callbacks];

    /// <summary>How many times each path and query was requested.</summary>
    public IReadOnlyDictionary<string, int> RequestsPerUrl => _perUrl;

    /// <summary>Requests of <paramref name="group"/> in flight now ("*" for all).</summary>
    public int InFlight(string group = "*")
    {
        lock (_gate)
        {
            return _inFlight.TryGetValue(group, out var v) ? v.Now : 0;
        }
    }

    /// <summary>When each request for a keyed route (flaky, retry-after) arrived.</summary>
    public IReadOnlyList<DateTimeOffset> Hits(string key) => _hits.TryGetValue(key, out var q) ? [.. q] : [];

    public static async Task<UpstreamServer> StartAsync(string address = "127.0.0.1")
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Limits.MaxResponseBufferSize = null).UseUrls($"http://{address}:0");
        var app = builder.Build();
        var server = new UpstreamServer(app);
        server.MapRoutes();
        await app.StartAsync();
        var bound = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        server.BaseAddress = new Uri(bound.EndsWith('/') ? bound : bound + "/");
        return server;
    }

    /// <summary>A loopback port nothing listens on: connecting to it is refused.</summary>
    public static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    void MapRoutes()
    {
        var app = _app;
        app.Use(async (context, next) =>
        {
            Interlocked.Increment(ref _requests);
            _arrivals.Enqueue(new Arrival(context.Request.Path + context.Request.QueryString, context.Request.Headers.UserAgent.ToString(),
                DateTimeOffset.UtcNow));
            _perUrl.AddOrUpdate(context.Request.Path + context.Request.QueryString, 1, (_, n) => n + 1);
            var group = context.Request.Query["group"].FirstOrDefault();
            Enter("*");
            if (group is not null)
            {
                Enter(group);
            }

            try
            {
                await next(context);
            }
            finally
            {
                Leave("*");
                if (group is not null)
                {
                    Leave(group);
                }
            }
        });

        app.MapMethods("/ok", ["GET", "HEAD"], () => Results.Text("hello", "text/plain"));
        // robots.txt as the test sets it (Robots); 404 until then.
        app.MapGet("/robots.txt", () => Results.Text(Robots.Body, "text/plain", statusCode: Robots.Status));
        // Answers 429 without Retry-After the first `n` times for a key, then 200.
        app.MapGet("/throttle/{key}/{n:int}", (string key, int n) =>
            _failures.AddOrUpdate("throttle:" + key, 1, (_, c) => c + 1) <= n ? Results.StatusCode(429) : Results.Text("ok"));
        // The Host header as sent (HttpRequest.Host would decode punycode back to Unicode).
        app.MapGet("/host", (HttpRequest request) => Results.Text(request.Headers.Host.ToString(), "text/plain"));
        // The Host header and the request target exactly as received: what the engine really requested.
        app.MapGet("/target/{**rest}", (HttpContext context) =>
            Results.Text(context.Request.Headers.Host + context.Features.GetRequiredFeature<IHttpRequestFeature>().RawTarget, "text/plain"));
        app.MapGet("/text", () => Results.Text("<p>héllo wörld</p>", "text/html; charset=utf-8"));
        app.MapGet("/status/{code:int}", (int code) => Results.StatusCode(code));
        app.MapGet("/delay/{ms:int}", async (int ms, CancellationToken ct) =>
        {
            await Task.Delay(ms, ct);
            return Results.Text("done");
        });

        // Fails with 503 the first `failures` times for a key, then answers 200.
        app.MapGet("/flaky/{key}/{failures:int}", (string key, int failures) =>
        {
            Hit(key);
            return _failures.AddOrUpdate(key, 1, (_, n) => n + 1) <= failures ? Results.StatusCode(503) : Results.Text("recovered");
        });

        // 429 with Retry-After (delta seconds) the first time for a key, then 200.
        app.MapGet("/retry-after/{key}/{seconds:int}", (string key, int seconds, HttpResponse response) =>
        {
            Hit(key);
            if (_failures.AddOrUpdate(key, 1, (_, n) => n + 1) > 1)
            {
                return Results.Text("after the wait");
            }

            response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Results.StatusCode(429);
        });

        // 503 with Retry-After as an HTTP date the first time for a key, then 200.
        app.MapGet("/retry-after-date/{key}/{seconds:int}", (string key, int seconds, HttpResponse response) =>
        {
            Hit(key);
            if (_failures.AddOrUpdate(key, 1, (_, n) => n + 1) > 1)
            {
                return Results.Text("after the wait");
            }

            response.Headers.RetryAfter = DateTimeOffset.UtcNow.AddSeconds(seconds).ToString("R");
            return Results.StatusCode(503);
        });

        app.MapGet("/redirect/{n:int}", (int n) => n <= 0 ? Results.Text("landed") : Results.Redirect($"/redirect/{n - 1}"));
        app.MapGet("/loop", () => Results.Redirect("/loop"));

        // n bytes with Content-Length, or chunked (no Content-Length).
        app.MapMethods("/bytes/{n:int}", ["GET", "HEAD"], async (int n, HttpRequest request, HttpResponse response) =>
        {
            response.ContentType = "application/octet-stream";
            response.ContentLength = n;
            if (request.Method == "GET")
            {
                await WriteBytesAsync(response, n);
            }
        });
        app.MapGet("/chunked/{n:int}", async (int n, HttpResponse response) =>
        {
            response.ContentType = "application/octet-stream";
            await WriteBytesAsync(response, n);
        });

        // A gzip-encoded body that inflates to n bytes of 'a'.
        app.MapGet("/gzip/{n:int}", async (int n, HttpResponse response) =>
        {
            response.ContentType = "text/plain";
            response.Headers.ContentEncoding = "gzip";
            await using var gzip = new GZipStream(response.Body, CompressionLevel.Fastest, leaveOpen: true);
            var chunk = new byte[64 * 1024];
            Array.Fill(chunk, (byte)'a');
            for (var left = n; left > 0; left -= chunk.Length)
            {
                await gzip.WriteAsync(chunk.AsMemory(0, Math.Min(left, chunk.Length)));
            }
        });

        // Sends part of the body, then aborts the connection (TCP reset).
        app.MapGet("/reset", async (HttpContext context) =>
        {
            context.Response.ContentLength = 100_000;
            await context.Response.Body.WriteAsync(new byte[10_000]);
            await context.Response.Body.FlushAsync();
            context.Abort();
        });

        // A webhook receiver: answers 500 to the first `fail` deliveries for a key, then 204.
        app.MapPost("/hook/{key}", async (string key, int? fail, HttpRequest request) =>
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body);
            var failed = _failures.AddOrUpdate("hook:" + key, 1, (_, n) => n + 1) <= (fail ?? 0);
            _callbacks.Enqueue(new ReceivedCallback(key, body.ToArray(),
                request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase), !failed));
            return failed ? Results.StatusCode(500) : Results.NoContent();
        });

        // Answers once the test opens the gate (Open), so that a test decides when a slot becomes final.
        app.MapGet("/gate/{key}", async (string key, CancellationToken ct) =>
        {
            await Gate(key).Task.WaitAsync(ct);
            return Results.Text("opened", "text/plain");
        });

        // Whatever a test registered with Serve: its bytes, as its content type.
        app.MapGet("/served/{key}", (string key) =>
            _served.TryGetValue(key, out var served) ? Results.Bytes(served.Body, served.ContentType) : Results.NotFound());

        // Never answers.
        app.MapGet("/hang", async (CancellationToken ct) =>
        {
            await Task.Delay(Timeout.Infinite, ct);
        });
    }

    static async Task WriteBytesAsync(HttpResponse response, int n)
    {
        var chunk = new byte[16 * 1024];
        Array.Fill(chunk, (byte)'x');
        for (var left = n; left > 0; left -= chunk.Length)
        {
            await response.Body.WriteAsync(chunk.AsMemory(0, Math.Min(left, chunk.Length)));
        }
    }

    TaskCompletionSource Gate(string key) => _gates.GetOrAdd(key, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    /// <summary>Serves <paramref name="body"/> as <paramref name="contentType"/> at <c>/served/{key}</c>; returns that URL.</summary>
    public string Serve(string key, string contentType, byte[] body)
    {
        _served[key] = (contentType, body);
        return Url($"/served/{key}");
    }

    /// <summary>Lets every request to <c>/gate/{key}</c> (waiting or to come) answer.</summary>
    public void Open(string key) => Gate(key).TrySetResult();

    void Hit(string key) => _hits.GetOrAdd(key, _ => new ConcurrentQueue<DateTimeOffset>()).Enqueue(DateTimeOffset.UtcNow);

    void Enter(string group)
    {
        lock (_gate)
        {
            var (now, max) = _inFlight.GetValueOrDefault(group);
            _inFlight[group] = (now + 1, Math.Max(max, now + 1));
        }
    }

    void Leave(string group)
    {
        lock (_gate)
        {
            var (now, max) = _inFlight[group];
            _inFlight[group] = (now - 1, max);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
