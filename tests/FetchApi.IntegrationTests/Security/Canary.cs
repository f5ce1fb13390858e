using System.Net;
using System.Net.Sockets;

namespace FetchApi.IntegrationTests.Security;

/// <summary>
/// A listener on 127.0.0.1 (and [::1] on the same port when it can) that only counts: any connection it sees is a
/// connection the address policy should have refused.
/// </summary>
public sealed class Canary : IAsyncDisposable
{
    readonly List<TcpListener> _listeners = [];
    readonly List<Task> _loops = [];
    readonly CancellationTokenSource _stopping = new();
    int _accepted;

    Canary()
    {
        var v4 = new TcpListener(IPAddress.Loopback, 0);
        v4.Start();
        _listeners.Add(v4);
        Port = ((IPEndPoint)v4.LocalEndpoint).Port;
        try
        {
            var v6 = new TcpListener(IPAddress.IPv6Loopback, Port);
            v6.Start();
            _listeners.Add(v6);
        }
        catch (SocketException)
        {
            // No IPv6 loopback here, or the port is taken on it: the IPv4 canary still counts.
        }

        _loops.AddRange(_listeners.Select(AcceptLoopAsync));
    }

    public int Port { get; }

    /// <summary>Connections accepted, plus any still waiting in a backlog.</summary>
    public int Connections => Volatile.Read(ref _accepted) + _listeners.Count(l => l.Pending());

    public static Canary Start() => new();

    async Task AcceptLoopAsync(TcpListener listener)
    {
        try
        {
            while (true)
            {
                using var socket = await listener.AcceptSocketAsync(_stopping.Token);
                Interlocked.Increment(ref _accepted);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _listeners.ForEach(l => l.Stop());
        await Task.WhenAll(_loops);
        _stopping.Dispose();
    }
}
