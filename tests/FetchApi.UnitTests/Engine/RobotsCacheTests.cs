using System.Net;
using System.Net.Sockets;
using System.Text;
using FetchApi.Engine;
using FetchApi.Engine.Hosts;
using FetchApi.Engine.Rates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace FetchApi.UnitTests.Engine;

/// <summary>
/// The robots.txt cache keeps an origin for the cache duration and then gives it back, and the sweeper does so on its
/// own: a real robots.txt from a loopback socket, a <see cref="FakeTimeProvider"/> for the cache's clock.
/// </summary>
public sealed class RobotsCacheTests : IAsyncDisposable
{
    static readonly TimeSpan Duration = TimeSpan.FromHours(1);

    readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero));
    readonly ServiceProvider _services = new ServiceCollection().AddHttpClient().BuildServiceProvider();
    readonly RobotsServer _server = RobotsServer.Start("User-agent: *\nDisallow: /private\n");
    readonly HostRates _rates = new();
    readonly RobotsCache _robots;

    public RobotsCacheTests() =>
        _robots = new RobotsCache(_services.GetRequiredService<IHttpClientFactory>(),
            Options.Create(new EngineOptions { RobotsCacheDuration = Duration, UserAgent = "FetchApi/test" }), _rates, _clock);

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    Uri Page(string path) => new($"http://127.0.0.1:{_server.Port}{path}");

    [Fact]
    public async Task AnOriginIsKeptForTheCacheDurationAndGivenBackAfter()
    {
        Assert.False((await _robots.GetAsync(Page("/private"), 0, Ct)).IsAllowed("/private"));

        _clock.Advance(Duration - TimeSpan.FromSeconds(1));
        _robots.Sweep(_clock.GetUtcNow());
        Assert.True((await _robots.GetAsync(Page("/open"), 0, Ct)).IsAllowed("/open"));
        Assert.Equal((1, 1L), (_robots.Origins, _robots.Fetches));

        _clock.Advance(TimeSpan.FromSeconds(1));
        _robots.Sweep(_clock.GetUtcNow());
        Assert.Equal(0, _robots.Origins);

        await _robots.GetAsync(Page("/open"), 0, Ct);
        Assert.Equal((1, 2L), (_robots.Origins, _robots.Fetches));
        Assert.Equal(2, _server.Requests);
    }

    [Fact]
    public async Task AnOriginAskedAgainAfterExpiryIsKeptForItsNewPeriod()
    {
        await _robots.GetAsync(Page("/"), 0, Ct);
        _clock.Advance(Duration + TimeSpan.FromMinutes(10));
        await _robots.GetAsync(Page("/"), 0, Ct); // expired: fetched anew before any sweep

        _robots.Sweep(_clock.GetUtcNow()); // the first period's turn: the newer entry stays
        Assert.Equal((1, 2L), (_robots.Origins, _robots.Fetches));

        _clock.Advance(Duration);
        _robots.Sweep(_clock.GetUtcNow());
        Assert.Equal(0, _robots.Origins);
    }

    [Fact]
    public async Task ManyOriginsGoOnceExpiredAndUnreachableOnesToo()
    {
        // One port answers; the others on 127.0.0.2-201 refuse at once (an unreachable robots.txt is cached too).
        await _robots.GetAsync(Page("/"), 0, Ct);
        await Task.WhenAll(Enumerable.Range(2, 200).Select(n => _robots.GetAsync(new Uri($"http://127.0.0.{n}:{_server.Port}/"), 0, Ct)));
        Assert.Equal(201, _robots.Origins);

        _clock.Advance(Duration);
        _robots.Sweep(_clock.GetUtcNow());

        Assert.Equal(0, _robots.Origins);
    }

    [Fact]
    public async Task TheSweeperGivesBackIdleRatesAndRobotsOnItsOwn()
    {
        using var sweeper = new HostSweeper([_rates, _robots], _clock, NullLogger<HostSweeper>.Instance);
        await sweeper.StartAsync(Ct);
        await _robots.GetAsync(Page("/"), 2, Ct);
        _rates.Reserve("rated.localhost:80", 1, _clock.GetUtcNow());
        Assert.Equal((1, 2), (_robots.Origins, _rates.Hosts));

        _clock.Advance(TimeSpan.FromSeconds(10));
        await EventuallyAsync(() => _rates.Hosts == 0);
        Assert.Equal(1, _robots.Origins);

        _clock.Advance(Duration);
        await EventuallyAsync(() => _robots.Origins == 0);
        await sweeper.StopAsync(Ct);
    }

    /// <summary>
    /// The sweeper runs on its own task (on .NET 10 a BackgroundService starts on the thread pool, so its timer may be
    /// made after the clock moved): poll with a deadline, moving the fake clock one sweep period each time.
    /// </summary>
    async Task EventuallyAsync(Func<bool> condition)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < until, "the sweeper did not give the entries back");
            await Task.Delay(10, Ct);
            _clock.Advance(HostSweeper.Period);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        await _services.DisposeAsync();
    }

    /// <summary>A loopback HTTP/1.1 server that answers every request with one robots.txt and closes the connection.</summary>
    sealed class RobotsServer : IAsyncDisposable
    {
        readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        readonly CancellationTokenSource _stop = new();
        readonly byte[] _response;
        int _requests;

        RobotsServer(string robots)
        {
            var body = Encoding.UTF8.GetBytes(robots);
            _response = [.. Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n"), .. body];
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public int Requests => Volatile.Read(ref _requests);

        public static RobotsServer Start(string robots)
        {
            var server = new RobotsServer(robots);
            server._listener.Start();
            _ = server.AcceptAsync();
            return server;
        }

        async Task AcceptAsync()
        {
            try
            {
                while (true)
                {
                    var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    _ = AnswerAsync(client);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // stopped
            }
        }

        async Task AnswerAsync(TcpClient client)
        {
            using var connection = client;
            try
            {
                var stream = client.GetStream();
                var buffer = new byte[4096];
                var read = 0;
                while (read < buffer.Length && !Encoding.ASCII.GetString(buffer, 0, read).Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    var n = await stream.ReadAsync(buffer.AsMemory(read), _stop.Token);
                    if (n == 0)
                    {
                        return;
                    }

                    read += n;
                }

                Interlocked.Increment(ref _requests);
                await stream.WriteAsync(_response, _stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException)
            {
                // the test ended, or the client gave up
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
        }
    }
}
