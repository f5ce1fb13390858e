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
/// every <c>GET /html/{anything}</c> waits the same and answers a 200 KB HTML page (<see cref="BenchPage"/>).
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
        app.MapGet("/r/{id}", async (HttpResponse response, CancellationToken ct) =>
        {
            if (latencyMs > 0)
            {
                await Task.Delay(delay, ct);
            }

            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = "text/plain";
            response.ContentLength = body.Length;
            await response.Body.WriteAsync(body, ct);
        });

        var page = BenchPage.Bytes;
        app.MapGet("/html/{id}", async (HttpResponse response, CancellationToken ct) =>
        {
            if (latencyMs > 0)
            {
                await Task.Delay(delay, ct);
            }

            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = "text/html; charset=utf-8";
            response.ContentLength = page.Length;
            await response.Body.WriteAsync(page, ct);
        });

        await app.StartAsync();
        await Console.Out.WriteLineAsync($"upstream listening on http://127.0.0.1:{port} latency {latencyMs} ms");
        await app.WaitForShutdownAsync();
        return 0;
    }
}
