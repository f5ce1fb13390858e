using System.IO.Compression;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace FetchApi.IntegrationTests.Security;

/// <summary>One accepted connection of a <see cref="HostileServer"/>, after the request head was read.</summary>
public sealed class HostileConnection(Socket socket, Stream stream, string target, CancellationToken stopping)
{
    public Socket Socket { get; } = socket;
    public Stream Stream { get; } = stream;

    /// <summary>The request target, e.g. <c>/loop</c>.</summary>
    public string Target { get; } = target;

    /// <summary>Cancelled when the server is disposed.</summary>
    public CancellationToken Stopping { get; } = stopping;

    public async Task WriteAsync(string text)
    {
        await Stream.WriteAsync(Encoding.UTF8.GetBytes(text), Stopping);
        await Stream.FlushAsync(Stopping);
    }

    /// <summary>Closes with a TCP reset instead of a FIN.</summary>
    public void Reset()
    {
        Socket.LingerState = new LingerOption(true, 0);
        Socket.Close();
    }
}

/// <summary>
/// A raw TCP server on loopback that misbehaves as no well-mannered HTTP server (Kestrel) will: it reads a request head
/// and then runs one behaviour on the socket, one response per connection. It counts the connections it accepted.
/// </summary>
public sealed class HostileServer : IAsyncDisposable
{
    readonly TcpListener _listener;
    readonly Func<HostileConnection, Task> _behaviour;
    readonly X509Certificate2? _certificate;
    readonly CancellationTokenSource _stopping = new();
    readonly List<Task> _connections = [];
    readonly Lock _gate = new();
    readonly Task _acceptLoop;
    int _accepted;

    HostileServer(IPAddress address, Func<HostileConnection, Task> behaviour, X509Certificate2? certificate)
    {
        _behaviour = behaviour;
        _certificate = certificate;
        _listener = new TcpListener(address, 0);
        _listener.Start();
        var port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        BaseAddress = new Uri($"{(certificate is null ? "http" : "https")}://{address}:{port}/");
        _acceptLoop = AcceptLoopAsync();
    }

    public Uri BaseAddress { get; }

    /// <summary>Connections accepted so far.</summary>
    public int Connections => Volatile.Read(ref _accepted);

    public string Url(string pathAndQuery = "/") => new Uri(BaseAddress, pathAndQuery).AbsoluteUri;

    /// <summary>Starts a server on <paramref name="address"/> (loopback only) that runs <paramref name="behaviour"/> on every request.</summary>
    public static HostileServer Start(Func<HostileConnection, Task> behaviour, string address = "127.0.0.1", X509Certificate2? tls = null)
    {
        var ip = IPAddress.Parse(address);
        Assert.True(IPAddress.IsLoopback(ip), "hostile servers live on loopback only");
        return new HostileServer(ip, behaviour, tls);
    }

    /// <summary>A certificate no one trusts, for 127.0.0.1.</summary>
    public static X509Certificate2 SelfSignedCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=hostile.test", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        // Round trip through PFX so the private key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), null);
    }

    async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stopping.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            Interlocked.Increment(ref _accepted);
            lock (_gate)
            {
                _connections.Add(ServeAsync(socket));
            }
        }
    }

    async Task ServeAsync(Socket socket)
    {
        try
        {
            Stream stream = new NetworkStream(socket, ownsSocket: false);
            if (_certificate is not null)
            {
                var tls = new SslStream(stream);
                await tls.AuthenticateAsServerAsync(
                    new SslServerAuthenticationOptions { ServerCertificate = _certificate }, _stopping.Token);
                stream = tls;
            }

            await using (stream)
            {
                if (await ReadRequestTargetAsync(stream, _stopping.Token) is { } target)
                {
                    await _behaviour(new HostileConnection(socket, stream, target, _stopping.Token));
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException
            or System.Security.Authentication.AuthenticationException)
        {
            // The client hung up, or gave up on us: that is the point.
        }
        finally
        {
            socket.Dispose();
        }
    }

    static async Task<string?> ReadRequestTargetAsync(Stream stream, CancellationToken ct)
    {
        var head = new List<byte>();
        var buffer = new byte[1];
        while (head.Count < 64 * 1024)
        {
            if (await stream.ReadAsync(buffer, ct) == 0)
            {
                return null;
            }

            head.Add(buffer[0]);
            if (head.Count >= 4 && head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n')
            {
                var requestLine = Encoding.ASCII.GetString([.. head]).Split("\r\n")[0].Split(' ');
                return requestLine.Length > 1 ? requestLine[1] : "/";
            }
        }

        return null;
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _listener.Stop();
#pragma warning disable VSTHRD003 // this server started these tasks itself, on the thread pool: nothing to deadlock on
        await _acceptLoop;
        Task[] connections;
        lock (_gate)
        {
            connections = [.. _connections];
        }

        await Task.WhenAll(connections);
#pragma warning restore VSTHRD003
        _certificate?.Dispose();
        _stopping.Dispose();
    }

    /// <summary>
    /// One gzip member that inflates to 64 MiB of zeros (about 64 KB). Members may follow one another in a gzip body
    /// (RFC 1952), so sending it <c>n</c> times streams a bomb of <c>n</c> × 64 MiB without compressing it each time.
    /// </summary>
    public static byte[] GzipBombMember => LazyMember.Value;

    public const long GzipBombMemberInflated = 64L * 1024 * 1024;

    static readonly Lazy<byte[]> LazyMember = new(() =>
    {
        using var compressed = new MemoryStream();
        using (var gzip = new GZipStream(compressed, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            var zeros = new byte[1024 * 1024];
            for (var i = 0; i < GzipBombMemberInflated / zeros.Length; i++)
            {
                gzip.Write(zeros);
            }
        }

        return compressed.ToArray();
    });
}
