using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FetchApi.Bench;

/// <summary>
/// The loopback upstream, run in its own process (the bench binary re-invoked as <c>upstream --latency-ms N --port P</c>):
/// Kestrel on 127.0.0.1, every <c>GET /r/{anything}</c> waits the fixed latency and answers 200 with a 1 KiB text body;
/// every <c>GET /html/{anything}</c> waits the same and answers a 200 KB HTML page (<see cref="BenchPage"/>);
/// <c>GET /robots.txt</c> answers a short robots.txt at once, whatever the host name, and <c>GET /close/{anything}</c>
/// answers as <c>/r/</c> does, both closing the connection after the answer (the hosts scenario).
/// </summary>
static class Upstream
{
    public const int BodyBytes = 1024;

    public static async Task<int> RunAsync(int latencyMs, int port)
    {
        var body = new byte[BodyBytes];
        Array.Fill(body, (byte)'x');

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, port);
            k.AddServerHeader = false;
            k.Limits.MaxConcurrentConnections = null;
        });
        var app = builder.Build();
        var delay = TimeSpan.FromMilliseconds(latencyMs);
        // Every route waits the fixed latency, then answers 200 with its fixed content.
        RequestDelegate Serve(byte[] content, string contentType) => async context =>
        {
            if (latencyMs > 0)
            {
                await Task.Delay(delay, context.RequestAborted);
            }

            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = contentType;
            context.Response.ContentLength = content.Length;
            await context.Response.Body.WriteAsync(content, context.RequestAborted);
        };

        app.MapGet("/r/{id}", Serve(body, "text/plain"));
        app.MapGet("/html/{id}", Serve(BenchPage.Bytes, "text/html; charset=utf-8"));
        // The hosts scenario: every host name is a new connection pool in the service, so these answers close their
        // connection, or 100,000 hosts would hold more sockets than a process may open and ports one address offers.
        app.MapGet("/robots.txt", (HttpContext context) =>
        {
            context.Response.Headers.Connection = "close";
            return Results.Text("User-agent: *\nDisallow: /private/\nCrawl-delay: 0.05\n", "text/plain");
        });
        var serve = Serve(body, "text/plain");
        app.MapGet("/close/{id}", context =>
        {
            context.Response.Headers.Connection = "close";
            return serve(context);
        });

        await app.StartAsync();
        await Console.Out.WriteLineAsync($"upstream listening on http://127.0.0.1:{port} latency {latencyMs} ms");
        await app.WaitForShutdownAsync();
        return 0;
    }
}
