using System.Net.Sockets;
using System.Text;
using FetchApi.IntegrationTests.Durability;

namespace FetchApi.IntegrationTests.ApiTests;

/// <summary>
/// A client that trickles a request body cannot hold a POST open: the whole request is bounded. The real process
/// (Kestrel), since the test server reads a body whole before the app sees it.
/// </summary>
public sealed class SlowRequestTests
{
    [Theory]
    [InlineData("/batches")]
    [InlineData("/urls/check")]
    public async Task AStalledBodyIsAnsweredWith408Problem(string path)
    {
        var ct = TestContext.Current.CancellationToken;
        var directory = Path.Combine(Path.GetTempPath(), "fetchapi-slow", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        await using var service = await ServiceProcess.StartAsync(Path.Combine(directory, "s.db"),
            new Dictionary<string, string> { ["Server__PostTimeout"] = "00:00:01", ["Server__MinDataRateGracePeriod"] = "00:01:00" });
        var address = service.Client.BaseAddress!;

        // Headers and the start of a 1,000-byte body, then silence.
        using var socket = new TcpClient();
        await socket.ConnectAsync(address.Host, address.Port, ct);
        var stream = socket.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            $"POST {path} HTTP/1.1\r\nHost: {address.Authority}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"urls\": ["), ct);
        using var reader = new StreamReader(stream, Encoding.ASCII);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(30));
        var response = new StringBuilder();
        var buffer = new char[4096];
        int read;
        while (!response.ToString().Contains("request_timeout", StringComparison.Ordinal)
               && (read = await reader.ReadAsync(buffer, deadline.Token)) > 0)
        {
            response.Append(buffer, 0, read);
        }

        var text = response.ToString();
        Assert.StartsWith("HTTP/1.1 408", text, StringComparison.Ordinal);
        Assert.Contains("Content-Type: application/problem+json", text, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("\"code\":\"request_timeout\"", text, StringComparison.Ordinal);
        Assert.Empty((await service.Client.GetJsonAsync("/batches"))["batches"]!.AsArray());
    }
}
