using System.Net;
using System.Text.Json.Nodes;

namespace FetchApi.IntegrationTests.Security;

/// <summary>
/// Upstreams that misbehave on purpose, all on loopback: each ends in one exact slot outcome, within its deadline,
/// and the service is still ready afterwards. One service for the class; every test starts its own upstream.
/// </summary>
public sealed class HostileUpstreamTests(HostileUpstreamTests.Fixture fixture) : IClassFixture<HostileUpstreamTests.Fixture>
{
    public sealed class Fixture() : ServiceWithUpstream;

    HttpClient Client => fixture.Client;

    /// <summary>Fetches <paramref name="url"/> once, checks the service is still ready, and returns the slot.</summary>
    async Task<JsonObject> FetchOnceAsync(string url, object? options = null, TimeSpan? deadline = null)
    {
        var id = await Client.SubmitAsync([url], options ?? new { maxAttempts = 1 });
        var slot = (await Client.ResultsAsync(id, deadline))[0];
        await AssertReadyAsync();
        return slot;
    }

    async Task AssertReadyAsync()
    {
        using var ready = await Client.GetAsync("/health/ready", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }

    static string Message(JsonObject slot) => slot["error"]!["message"]!.GetValue<string>();

    static async Task ForeverAsync(HostileConnection c, string head, Func<Task> each, TimeSpan every)
    {
        await c.WriteAsync(head);
        using var timer = new PeriodicTimer(every);
        while (await timer.WaitForNextTickAsync(c.Stopping))
        {
            await each();
        }
    }

    static async Task WriteZerosForeverAsync(HostileConnection c, string head)
    {
        await c.WriteAsync(head);
        var chunked = head.Contains("chunked", StringComparison.Ordinal);
        var zeros = new byte[64 * 1024];
        while (true)
        {
            if (chunked)
            {
                await c.WriteAsync($"{zeros.Length:x}\r\n");
            }

            await c.Stream.WriteAsync(zeros, c.Stopping);
            if (chunked)
            {
                await c.WriteAsync("\r\n");
            }
        }
    }

    [Fact]
    public async Task UpstreamThatNeverSendsHeadersTimesOut()
    {
        await using var server = HostileServer.Start(c => Task.Delay(Timeout.Infinite, c.Stopping));

        var slot = await FetchOnceAsync(server.Url(), new { maxAttempts = 1, timeoutSeconds = 1 });

        Assert.Equal(("failed", "timeout"), (slot.State(), slot.ErrorCode()));
    }

    [Fact]
    public async Task BodyDripFedForeverTimesOutAtTheAttemptDeadline()
    {
        // A byte every 50 ms: never idle long enough for a read timeout, never finished either.
        await using var server = HostileServer.Start(c => ForeverAsync(c,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n",
            () => c.WriteAsync("1\r\nx\r\n"), TimeSpan.FromMilliseconds(50)));

        var slot = await FetchOnceAsync(server.Url(), new { maxAttempts = 1, timeoutSeconds = 1 });

        Assert.Equal(("failed", "timeout"), (slot.State(), slot.ErrorCode()));
        Assert.InRange(slot["durationMs"]!.GetValue<long>(), 900, 10_000); // the deadline ended it, not a hang
    }

    [Theory]
    [InlineData("Content-Length: 1073741824\r\n")] // declared too large: refused before reading
    [InlineData("Transfer-Encoding: chunked\r\n")] // endless chunks
    [InlineData("Connection: close\r\n")] // no length at all: the body runs until the server closes, which it never does
    public async Task BodyOverTheCapFailsWithBodyTooLargeAndReadingStops(string framing)
    {
        await using var server = HostileServer.Start(c => WriteZerosForeverAsync(c,
            $"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n{framing}\r\n"));

        // An endless body can only end in body_too_large if reading stops at the cap; otherwise it is a timeout.
        var slot = await FetchOnceAsync(server.Url(), new { maxAttempts = 1, maxBodyBytes = 100_000, timeoutSeconds = 30 });

        Assert.Equal(("failed", "body_too_large"), (slot.State(), slot.ErrorCode()));
        Assert.Contains("100000", Message(slot));
    }

    [Fact]
    public async Task ContentLengthLongerThanTheBodyFailsWithProtocolError()
    {
        await using var server = HostileServer.Start(async c =>
        {
            await c.WriteAsync($"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n{new string('x', 1000)}");
            c.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send); // a clean FIN, 99,000 bytes early
        });

        var slot = await FetchOnceAsync(server.Url());

        Assert.Equal(("failed", "protocol_error"), (slot.State(), slot.ErrorCode()));
        Assert.Contains("the response ended before its declared end", Message(slot));
    }

    [Fact]
    public async Task GzipBombsFailWithBodyTooLarge()
    {
        const int bombs = 20;
        // Each response inflates to 1 GiB of zeros from about 1 MB on the wire; the reader gives up after maxBodyBytes.
        await using var server = HostileServer.Start(async c =>
        {
            await c.WriteAsync("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\n");
            for (var i = 0; i < 16; i++)
            {
                await c.Stream.WriteAsync(HostileServer.GzipBombMember, c.Stopping);
            }
        });

        var id = await Client.SubmitAsync(Enumerable.Range(0, bombs).Select(i => server.Url($"/bomb/{i}")), new { maxAttempts = 1 });
        var slots = await Client.ResultsAsync(id);

        Assert.All(slots, s => Assert.Equal(("failed", "body_too_large"), (s.State(), s.ErrorCode())));
        await AssertReadyAsync();
    }

    [Fact]
    public async Task RedirectLoopFailsWithTooManyRedirects()
    {
        await using var server = HostileServer.Start(c =>
            c.WriteAsync("HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));

        var slot = await FetchOnceAsync(server.Url(), new { maxAttempts = 1, maxRedirects = 5 });

        Assert.Equal(("failed", "too_many_redirects"), (slot.State(), slot.ErrorCode()));
        Assert.Equal(6, server.Connections); // the first request and five redirects, each on a new, re-checked connection
    }

    [Fact]
    public async Task ResetMidBodyFailsWithConnectionReset()
    {
        await using var server = HostileServer.Start(async c =>
        {
            await c.WriteAsync($"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n{new string('x', 10_000)}");
            c.Reset();
        });

        var slot = await FetchOnceAsync(server.Url());

        Assert.Equal(("failed", "connection_reset"), (slot.State(), slot.ErrorCode()));
    }

    [Fact]
    public async Task SelfSignedTlsUpstreamFailsWithTlsError()
    {
        await using var server = HostileServer.Start(
            c => c.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), tls: HostileServer.SelfSignedCertificate());

        var slot = await FetchOnceAsync(server.Url());

        Assert.StartsWith("https://", server.Url(), StringComparison.Ordinal);
        Assert.Equal(("failed", "tls_error"), (slot.State(), slot.ErrorCode()));
        Assert.Contains("TLS handshake failed", Message(slot));
    }

    [Fact]
    public async Task OversizedResponseHeadersFailWithProtocolError()
    {
        await using var server = HostileServer.Start(c =>
            c.WriteAsync($"HTTP/1.1 200 OK\r\nX-Padding: {new string('a', 100 * 1024)}\r\nContent-Length: 2\r\n\r\nok"));

        var slot = await FetchOnceAsync(server.Url());

        Assert.Equal(("failed", "protocol_error"), (slot.State(), slot.ErrorCode()));
        Assert.Contains("headers", Message(slot));
    }

    [Fact]
    public async Task TooManyRequestsWithAnHourLongRetryAfterEndsTheSlotWithoutWaiting()
    {
        await using var server = HostileServer.Start(c =>
            c.WriteAsync("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3600\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));

        // Default options: three attempts allowed, yet the first answer is final because the wait is beyond the cap.
        var slot = await FetchOnceAsync(server.Url(), new { }, deadline: TimeSpan.FromSeconds(20));

        Assert.Equal(("fetched", 429, 1), (slot.State(), slot.StatusCode(), slot.Attempts()));
        Assert.Equal(1, server.Connections);
    }
}
