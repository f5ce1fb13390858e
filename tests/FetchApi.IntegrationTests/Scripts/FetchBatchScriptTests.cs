using System.Diagnostics;
using System.Text.Json.Nodes;
using FetchApi.IntegrationTests.Durability;
using FetchApi.IntegrationTests.Upstream;

namespace FetchApi.IntegrationTests.Scripts;

/// <summary>scripts/fetch-batch.sh run as a user runs it: bash, curl and jq against the real service process.</summary>
public sealed class FetchBatchScriptTests : IAsyncLifetime
{
    readonly string _directory = Path.Combine(Path.GetTempPath(), "fetchapi-script", Guid.NewGuid().ToString("N"));
    UpstreamServer _upstream = null!;

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(_directory);
        _upstream = await UpstreamServer.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_upstream is not null)
        {
            await _upstream.DisposeAsync();
        }

        Directory.Delete(_directory, recursive: true);
    }

    static void RequireTools()
    {
        foreach (var tool in new[] { "bash", "curl", "jq" })
        {
            if (!Environment.GetEnvironmentVariable("PATH")!.Split(':').Any(dir => File.Exists(Path.Combine(dir, tool))))
            {
                Assert.False(Environment.GetEnvironmentVariable("CI") == "true", $"{tool} is missing on CI");
                Assert.Skip($"{tool} is not installed; install it with: apt-get install -y {tool}");
            }
        }
    }

    static async Task<(int ExitCode, List<JsonObject> Lines, string Errors)> RunAsync(Uri service, string stdin, string? key, params string[] args)
    {
        var info = new ProcessStartInfo("bash", [Path.Combine(ServiceProcess.RepositoryRoot, "scripts", "fetch-batch.sh"), .. args])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["FETCHAPI_URL"] = service.ToString();
        if (key is not null)
        {
            info.Environment["FETCHAPI_KEY"] = key;
        }

        using var process = Process.Start(info)!;
        await process.StandardInput.WriteAsync(stdin);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        var lines = (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        return (process.ExitCode, lines, await stderr);
    }

    [Fact]
    public async Task ScriptPrintsOneJsonLinePerUrlInOrderAndFailsOnErrorWhenAsked()
    {
        RequireTools();
        await using var service = await ServiceProcess.StartAsync(Path.Combine(_directory, "a.db"));
        var refused = $"http://127.0.0.1:{UpstreamServer.ClosedPort()}/";
        var input = $"{_upstream.Url("/ok")}\n# a comment\n\n{_upstream.Url("/status/404")}\n{refused}\n";

        var (exit, lines, errors) = await RunAsync(service.Client.BaseAddress!, input, null, "--fail-on-error", "--max-attempts", "1");

        Assert.Equal(1, exit);
        Assert.Equal([0, 1, 2], lines.Select(l => l["index"]!.GetValue<int>()));
        Assert.Equal(["fetched", "fetched", "failed"], lines.Select(l => l.State()));
        Assert.Equal("connection_refused", lines[2].ErrorCode());
        Assert.Contains("3/3", errors, StringComparison.Ordinal); // the progress bar reached the end

        var (okExit, okLines, _) = await RunAsync(service.Client.BaseAddress!, _upstream.Url("/ok") + "\n", null, "--fail-on-error", "--quiet");
        Assert.Equal(0, okExit);
        Assert.Single(okLines);
    }

    [Fact]
    public async Task CheckPrintsOneVerdictPerUrlWithoutFetchingAnything()
    {
        RequireTools();
        await using var service = await ServiceProcess.StartAsync(Path.Combine(_directory, "c.db"));
        var port = _upstream.BaseAddress.Port;
        var input = $"{_upstream.Url("/ok")}\n# a comment\nftp://127.0.0.1/file\nHTTP://LOCALHOST:{port}/x/../ok#top\nhttp://[::1]:{port}/\n";

        var (exit, lines, errors) = await RunAsync(service.Client.BaseAddress!, input, null, "--check", "--resolve", "--fail-on-error");

        Assert.Equal(1, exit);
        Assert.Equal([0, 1, 2, 3], lines.Select(l => l["index"]!.GetValue<int>()));
        Assert.Equal(["allowed", "invalid", "allowed", "blocked"], lines.Select(l => l["verdict"]!.GetValue<string>()));
        Assert.Equal($"http://localhost:{port}/ok", lines[2]["normalized"]!.GetValue<string>());
        Assert.Equal("::1 is in ::1/128 (loopback)", lines[3]["reason"]!.GetValue<string>());
        Assert.Contains("allowed 2  blocked 1  invalid 1", errors, StringComparison.Ordinal);
        Assert.Equal(0, _upstream.Requests);

        var (okExit, okLines, _) = await RunAsync(service.Client.BaseAddress!, $"{_upstream.Url("/ok")}\n{_upstream.Url("/ok")}\n", null, "--check", "-q");
        Assert.Equal(0, okExit);
        Assert.Equal(0, okLines[1]["duplicateOf"]!.GetValue<int>());
        Assert.Equal(0, _upstream.Requests);
    }

    [Fact]
    public async Task ScriptWaitsOutA429AndSendsTheApiKey()
    {
        RequireTools();
        await using var service = await ServiceProcess.StartAsync(Path.Combine(_directory, "b.db"), new Dictionary<string, string>
        {
            ["Security__ApiKeys__0__Name"] = "scripts",
            ["Security__ApiKeys__0__Key"] = "scripts-key-0123456789",
            ["RateLimiting__CreatePerSecond"] = "1",
            ["RateLimiting__CreateBurst"] = "1",
        });

        // Three runs at once share one token: the others are answered 429 with Retry-After, wait, and get through.
        var runs = await Task.WhenAll(Enumerable.Range(0, 3).Select(i =>
            RunAsync(service.Client.BaseAddress!, _upstream.Url($"/ok?run={i}") + "\n", "scripts-key-0123456789", "-q")));

        Assert.All(runs, run => Assert.Equal(0, run.ExitCode));
        Assert.All(runs, run => Assert.Equal("fetched", Assert.Single(run.Lines).State()));
        Assert.Contains(runs, run => run.Errors.Contains("429, retrying", StringComparison.Ordinal));

        var (exit, _, errors) = await RunAsync(service.Client.BaseAddress!, _upstream.Url("/ok") + "\n", "wrong-key-000000000000", "-q");
        Assert.Equal(2, exit);
        Assert.Contains("401", errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARerunWithThePrintedIdempotencyKeyReadsTheSameBatchInsteadOfFetchingAgain()
    {
        RequireTools();
        await using var service = await ServiceProcess.StartAsync(Path.Combine(_directory, "d.db"));
        var input = _upstream.Url("/ok?once") + "\n";

        var (exit, lines, errors) = await RunAsync(service.Client.BaseAddress!, input, null);
        var key = System.Text.RegularExpressions.Regex.Match(errors, "Idempotency-Key: (\\S+)").Groups[1].Value;
        var (againExit, again, _) = await RunAsync(service.Client.BaseAddress!, input, null, "-q", "--idempotency-key", key);
        var (otherExit, _, otherErrors) = await RunAsync(service.Client.BaseAddress!, _upstream.Url("/ok?other") + "\n", null, "-q", "--idempotency-key", key);

        Assert.Equal((0, 0), (exit, againExit));
        Assert.StartsWith("fetch-batch-", key, StringComparison.Ordinal);
        Assert.Equal(lines.Select(l => l.ToJsonString()), again.Select(l => l.ToJsonString()));
        Assert.Equal(1, _upstream.RequestsPerUrl["/ok?once"]);
        // The same key with other URLs is another request: refused, never a second batch under that key.
        Assert.Equal(2, otherExit);
        Assert.Contains("idempotency_key_reused", otherErrors, StringComparison.Ordinal);
    }
}
