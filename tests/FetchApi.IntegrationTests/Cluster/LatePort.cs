using System.Net;
using System.Net.Sockets;

namespace FetchApi.IntegrationTests.Cluster;

/// <summary>
/// A loopback port where nothing listens (connections are refused, as to a database server not started yet) until
/// <see cref="Open"/>, from then on forwarding every connection to <paramref name="target"/>.
/// </summary>
public sealed class LatePort(int target) : IAsyncDisposable
{
    readonly CancellationTokenSource _stop = new();
    TcpListener? _listener;
    Task _accepting = Task.CompletedTask;

    public int Port { get; } = FreePort();

    static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    public void Open()
    {
        _listener = new TcpListener(IPAddress.Loopback, Port);
        _listener.Start();
        _accepting = AcceptAsync(_listener, _stop.Token);
    }

    async Task AcceptAsync(TcpListener listener, CancellationToken stop)
    {
        try
        {
            while (true)
            {
                var client = await listener.AcceptTcpClientAsync(stop);
                _ = ForwardAsync(client, stop);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    async Task ForwardAsync(TcpClient client, CancellationToken stop)
    {
        using (client)
        using (var server = new TcpClient())
        {
            try
            {
                await server.ConnectAsync(IPAddress.Loopback, target, stop);
                await using var a = client.GetStream();
                await using var b = server.GetStream();
                // Either side closing ends both directions.
                await Task.WhenAny(a.CopyToAsync(b, stop), b.CopyToAsync(a, stop));
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or SocketException)
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener?.Stop();
#pragma warning disable VSTHRD003 // our own accept loop, started in Open
        await _accepting;
#pragma warning restore VSTHRD003
        _stop.Dispose();
    }
}
