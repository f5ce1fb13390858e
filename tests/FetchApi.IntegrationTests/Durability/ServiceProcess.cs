using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace FetchApi.IntegrationTests.Durability;

/// <summary>
/// The service as a real child process (the build output of src/FetchApi, started with <c>dotnet FetchApi.dll</c> as
/// the container does), for tests where a crash or a restart is the point.
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    readonly Process _process;
    readonly StringBuilder _output = new();
    // The starting test's output: every line the process prints goes there too, so a failing test shows it.
    readonly ITestOutputHelper? _testOutput = TestContext.Current.TestOutputHelper;
    readonly int _pid;

    ServiceProcess(Process process, Uri address)
    {
        _process = process;
        _pid = process.Id;
        Client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
    }

    public HttpClient Client { get; }

    /// <summary>What the process printed, for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>The repository root, from tests/FetchApi.IntegrationTests/bin/&lt;Configuration&gt;/net10.0/.</summary>
    public static string RepositoryRoot =>
        new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Parent!.Parent!.Parent!.Parent!.FullName;

    public static string ServiceDll()
    {
        // The service's own build output (with its runtimeconfig and appsettings.json), same configuration as the tests.
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var dll = Path.Combine(RepositoryRoot, "src", "FetchApi", "bin", testBin.Parent!.Name, testBin.Name, "FetchApi.dll");
        Assert.True(File.Exists(dll), $"the service build output is missing: {dll}");
        return dll;
    }

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// Starts the service and waits until it is ready (or, with <paramref name="ready"/> false, only live: a start on a
    /// store that cannot take writes). It runs in its build folder unless <paramref name="workingDirectory"/> says where.
    /// </summary>
    public static async Task<ServiceProcess> StartAsync(string databasePath, IDictionary<string, string>? settings = null, bool ready = true,
        string? workingDirectory = null)
    {
        var dll = ServiceDll();
        var port = FreePort();
        var info = new ProcessStartInfo("dotnet", [dll, "--urls", $"http://127.0.0.1:{port}"])
        {
            WorkingDirectory = workingDirectory ?? Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var environment = new Dictionary<string, string>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["Storage__ConnectionString"] = $"Data Source={databasePath}",
            ["Security__AllowedNetworks__0"] = "127.0.0.0/8",
            // Whatever a test submits, nothing but loopback is ever connected to.
            ["Security__DeniedNetworks__0"] = "0.0.0.0/0",
            ["Security__DeniedNetworks__1"] = "::/0",
            ["Engine__GlobalConcurrency"] = "256",
            ["Engine__PerHostConcurrency"] = "256",
            ["RateLimiting__CreatePerSecond"] = "1000",
            ["RateLimiting__CreateBurst"] = "1000",
            ["RateLimiting__CheckPerSecond"] = "1000",
            ["RateLimiting__CheckBurst"] = "1000",
            ["RateLimiting__ApiPerSecond"] = "100000",
            ["RateLimiting__ApiBurst"] = "100000",
            ["Logging__LogLevel__Default"] = "Warning",
            ["Logging__LogLevel__FetchApi"] = "Information",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            environment[key] = value;
        }

        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        var process = Process.Start(info)!;
        var service = new ServiceProcess(process, new Uri($"http://127.0.0.1:{port}"));
        process.OutputDataReceived += (_, e) => service.Append(e.Data);
        process.ErrorDataReceived += (_, e) => service.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await service.WaitUntilAnswersAsync(ready ? "/health/ready" : "/health/live");
        }
        catch
        {
            // A start that never answered is not left running after the test that gave up on it.
            await service.DisposeAsync();
            throw;
        }

        return service;
    }

    /// <summary>
    /// Starts the service for a start that is expected to fail (a bad setting, a refused store) and waits for it to
    /// exit (60 s at most); returns its exit code and the lines it wrote to stderr.
    /// </summary>
    public static async Task<(int ExitCode, string[] Errors)> RunUntilExitAsync(IDictionary<string, string> settings)
    {
        var ct = TestContext.Current.CancellationToken;
        var dll = ServiceDll();
        var info = new ProcessStartInfo("dotnet", [dll, "--urls", "http://127.0.0.1:0"])
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        info.Environment["Security__DeniedNetworks__0"] = "0.0.0.0/0";
        info.Environment["Security__DeniedNetworks__1"] = "::/0";
        foreach (var (key, value) in settings)
        {
            info.Environment[key] = value;
        }

        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync(ct);
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }

        await stdout;
        return (process.ExitCode, (await stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }

        try
        {
            _testOutput?.WriteLine($"[service pid {_pid}] {line}");
        }
        catch (InvalidOperationException)
        {
            // The test has ended while the process was still printing (it is killed on dispose).
        }
    }

    async Task WaitUntilAnswersAsync(string path)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            Assert.False(_process.HasExited, $"the service exited with {(_process.HasExited ? _process.ExitCode : 0)}:\n{Output}");
            try
            {
                using var response = await Client.GetAsync(path, TestContext.Current.CancellationToken);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            Assert.True(DateTime.UtcNow < deadline, $"{path} did not answer 200:\n{Output}");
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public async Task KillAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync(TestContext.Current.CancellationToken);
    }

    /// <summary>SIGTERM, as an orchestrator stops a container; returns the exit code.</summary>
    public async Task<int> TerminateAsync(TimeSpan deadline)
    {
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync(TestContext.Current.CancellationToken);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(deadline);
        await _process.WaitForExitAsync(timeout.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
