using System.Net.Http.Headers;
using System.Text;
using CsCheck;

namespace FetchApi.IntegrationTests.Batches;

/// <summary>
/// Property: whatever bytes a client sends to POST /batches, the answer is never a 5xx. Random JSON, random URL
/// strings and mangled versions of a valid request, a few thousand of each run. Hosts are loopback spellings and IP
/// literals only, with loopback refused: an accepted batch resolves no name and opens no connection.
/// </summary>
public sealed class RandomInputTests : IAsyncLifetime
{
    readonly FetchApiFactory _factory = new(new Dictionary<string, string?>
    {
        ["Security:AllowedNetworks:0"] = null, ["RateLimiting:CreatePerSecond"] = "100000", ["RateLimiting:CreateBurst"] = "100000",
    });
    HttpClient _client = null!;

    public ValueTask InitializeAsync()
    {
        _client = _factory.CreateClient();
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        _client?.Dispose();
        await _factory.DisposeAsync();
    }

    static readonly Gen<string> Scheme = Gen.OneOf("http://", "https://", "HTTP://", "ftp://", "file://", "javascript:", "data:", "gopher://", "", "//", "http:/", "http:");
    // Loopback only, in many spellings: accepted URLs are fetched, and nothing but loopback may ever be submitted.
    static readonly Gen<string> Host = Gen.OneOf("127.0.0.1", "[::1]", "localhost", "LOCALHOST.", "127.1", "0x7f000001", "2130706433",
        "0177.0.0.1", "[0:0:0:0:0:0:0:1]", "[::ffff:127.0.0.1]", "127.10.0.1", "127.169.254.254", "b\u00fccher.localhost", "user:pw@127.0.0.1",
        "", "@", "[", "%00", "a b");
    static readonly Gen<string> Tail = Gen.OneOf("", "/", "/a?b=1", ":80", ":99999", ":-1", "#frag", "/%0d%0a", "\r\nX: y", "\0", "/../..", "?" + new string('q', 50));

    static readonly Gen<string> Url = Gen.Frequency(
        (4, Gen.Select(Scheme, Host, Tail, (s, h, t) => s + h + t)),
        (1, Gen.String[0, 40]));

    static string Quote(string s) => System.Text.Json.JsonSerializer.Serialize(s);

    static readonly Gen<string> Scalar = Gen.Frequency(
        (3, Url.Select(Quote)),
        (1, Gen.Int.Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))),
        (1, Gen.Double.Select(d => double.IsFinite(d) ? d.ToString("R", System.Globalization.CultureInfo.InvariantCulture) : "1e999")),
        (1, Gen.OneOf("true", "false", "null", "\"\"", "-0", "1e400", "\"GET\"", "\"HEAD\"", "\"POST\"")));

    static readonly Gen<string> Key = Gen.OneOf("urls", "options", "callback", "concurrency", "timeoutSeconds", "maxAttempts", "method",
        "headers", "includeBody", "maxBodyBytes", "followRedirects", "maxRedirects", "url", "secret", "Host", "Cookie", "X-Ok", "bogus", "");

    static Gen<string> Json(int depth) => depth == 0
        ? Scalar
        : Gen.Frequency(
            (3, Scalar),
            (1, Json(depth - 1).Array[0, 5].Select(items => "[" + string.Join(",", items) + "]")),
            (2, Gen.Select(Key, Json(depth - 1)).Array[0, 5].Select(pairs => "{" + string.Join(",", pairs.Select(p => Quote(p.Item1) + ":" + p.Item2)) + "}")));

    /// <summary>A body shaped like a request, with random URLs and random option values.</summary>
    static readonly Gen<string> RequestLike = Gen.Select(
        Url.Select(Quote).Array[0, 6],
        Gen.Select(Key, Json(1)).Array[0, 6],
        (urls, options) => "{\"urls\":[" + string.Join(",", urls) + "],\"options\":{" +
                           string.Join(",", options.Select(p => Quote(p.Item1) + ":" + p.Item2)) + "}}");

    static readonly Gen<string> ValidUrl = Gen.Select(Gen.OneOf("http://", "https://"),
        Gen.OneOf("127.0.0.1", "[::1]", "localhost", "127.1", "0x7f000001", "127.10.0.1", "127.169.254.254", "[::ffff:127.0.0.1]"),
        Gen.OneOf("", "/", "/a?b=1", ":8080/x", "/%20"), (s, h, t) => s + h + t);

    static readonly Gen<string> Option = Gen.OneOf(
        Gen.Int[-5, 300].Select(i => $"\"concurrency\":{i}"),
        Gen.Int[-1, 12].Select(i => $"\"maxAttempts\":{i}"),
        Gen.Int[-1, 25].Select(i => $"\"maxRedirects\":{i}"),
        Gen.Double[-1, 150].Select(d => $"\"timeoutSeconds\":{d.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}"),
        Gen.Long[-1, 20_000_000].Select(l => $"\"maxBodyBytes\":{l}"),
        Gen.OneOf("GET", "HEAD", "get", "POST", "").Select(m => $"\"method\":\"{m}\""),
        Gen.Bool.Select(b => $"\"includeBody\":{(b ? "true" : "false")}"),
        Gen.OneOf("X-Ok", "Accept", "Host", "Cookie", "Bad Name").Select(h => $"\"headers\":{{\"{h}\":\"v\"}}"));

    /// <summary>A request that is often valid: plausible URLs and known options with values around their bounds.</summary>
    static readonly Gen<string> Plausible = Gen.Select(ValidUrl.Select(Quote).Array[1, 5], Option.Array[0, 4],
        (urls, options) => "{\"urls\":[" + string.Join(",", urls) + "],\"options\":{" + string.Join(",", options.DistinctBy(o => o[..8])) + "}}");

    static readonly Gen<string> Body = Gen.Frequency(
        (4, Plausible),
        (3, RequestLike),
        (2, Json(3)),
        (1, Gen.Select(RequestLike, Gen.Double[0, 1], (body, cut) => body[..(int)(body.Length * cut)])),
        (1, Gen.String[0, 200]));

    [Fact]
    public async Task NoRandomRequestBodyIsAnsweredWithA5xx()
    {
        int accepted = 0, refused = 0;
        await Body.SampleAsync(async body =>
        {
            using var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await _client.PostAsync("/batches", content, TestContext.Current.CancellationToken);
            var status = (int)response.StatusCode;
            Assert.True(status < 500, $"{status} for body {body}: {await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)}");
            Assert.True(status is 202 or 400, $"unexpected {status} for body {body}");
            _ = status == 202 ? accepted++ : refused++;
        }, iter: 2500, threads: 1);

        // Both kinds of answer were exercised, many times: the property is not vacuous.
        Assert.True(accepted > 100 && refused > 100, $"{accepted} accepted, {refused} refused");
    }
}
