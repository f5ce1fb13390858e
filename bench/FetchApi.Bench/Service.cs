using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;

namespace FetchApi.Bench;

/// <summary>
/// FetchApi as a real process: <c>dotnet FetchApi.dll</c> from a Release publish, on a fresh SQLite file, with the
/// per-host limit raised (one loopback host must not be the limit), loopback allowed and the rate limits raised.
/// </summary>
sealed class Service : IAsyncDisposable
{
    readonly ChildProcess _process;

    Service(ChildProcess process, Uri address, string databasePath)
    {
        _process = process;
        Address = address;
        DatabasePath = databasePath;
        Http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = int.MaxValue, UseProxy = false })
        {
            BaseAddress = address,
            Timeout = TimeSpan.FromSeconds(60),
        };
        Api = new ApiClient(Http);
    }

    public Uri Address { get; }

    public string DatabasePath { get; }

    public HttpClient Http { get; }

    public ApiClient Api { get; }

    public ChildProcess Process => _process;

    /// <summary>Settings every bench run uses; a scenario may add or override.</summary>
    public static Dictionary<string, string> BaseSettings() => new()
    {
        ["ASPNETCORE_ENVIRONMENT"] = "Production",
        ["Security__AllowedNetworks__0"] = "127.0.0.0/8",
        ["Engine__PerHostConcurrency"] = "1000",
        ["RateLimiting__CreatePerSecond"] = "100000",
        ["RateLimiting__CreateBurst"] = "100000",
        ["RateLimiting__ApiPerSecond"] = "1000000",
        ["RateLimiting__ApiBurst"] = "1000000",
        ["Logging__LogLevel__Default"] = "Warning",
    };

    /// <summary><c>dotnet publish -c Release</c> of src/FetchApi into <paramref name="outputDirectory"/>.</summary>
    public static async Task<string> PublishAsync(string repositoryRoot, string outputDirectory)
    {
        var project = Path.Combine(repositoryRoot, "src", "FetchApi", "FetchApi.csproj");
        Console.WriteLine($"publishing {project} (Release) to {outputDirectory} ...");
        var started = Stopwatch.GetTimestamp();
        await using var publish = ChildProcess.Start("publish", "dotnet",
            ["publish", project, "-c", "Release", "-o", outputDirectory, "--nologo", "-v", "quiet"]);
        await publish.WaitForExitAsync(CancellationToken.None);
        if (publish.ExitCode != 0)
        {
            throw new BenchException($"dotnet publish failed ({publish.ExitCode}):\n{publish.Output}");
        }

        Console.WriteLine($"published in {Stopwatch.GetElapsedTime(started).TotalSeconds:F1} s");
        return outputDirectory;
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// Starts FetchApi and waits until it is ready; on a fresh SQLite file in <paramref name="workDirectory"/> unless
    /// <paramref name="settings"/> name a <c>Storage__ConnectionString</c> (PostgreSQL).
    /// </summary>
    public static async Task<Service> StartAsync(string serviceDirectory, string workDirectory, IReadOnlyDictionary<string, string> settings,
        string name = "fetchapi")
    {
        var dll = Path.Combine(serviceDirectory, "FetchApi.dll");
        if (!File.Exists(dll))
        {
            throw new BenchException($"no FetchApi.dll in {serviceDirectory}");
        }

        var port = FreePort();
        var database = Path.Combine(workDirectory, $"fetchapi-{port}.db");
        var environment = new Dictionary<string, string>(settings);
        environment.TryAdd("Storage__ConnectionString", $"Data Source={database}");
        var process = ChildProcess.Start(name, "dotnet", [dll, "--urls", $"http://127.0.0.1:{port}"], serviceDirectory, environment);
        var service = new Service(process, new Uri($"http://127.0.0.1:{port}"), database);
        try
        {
            await WaitUntilAsync(service.Http, "/health/ready", process, TimeSpan.FromSeconds(60));
        }
        catch
        {
            await service.DisposeAsync();
            throw;
        }

        return service;
    }

    /// <summary>Polls <paramref name="path"/> until it answers 200.</summary>
    public static async Task WaitUntilAsync(HttpClient http, string path, ChildProcess process, TimeSpan timeout)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            if (process.HasExited)
            {
                throw new BenchException($"{process.Name} exited with {process.ExitCode}:\n{process.Output}");
            }

            try
            {
                using var response = await http.GetAsync(new Uri(path, UriKind.Relative));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new BenchException($"{process.Name} did not answer {path} within {timeout.TotalSeconds} s:\n{process.Output}");
            }

            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _process.DisposeAsync();
        foreach (var suffix in new[] { "", "-wal", "-shm" })
        {
            File.Delete(DatabasePath + suffix);
        }
    }
}

/// <summary>What a poll with <c>results=false</c> shows.</summary>
sealed record Summary(string Status, int Total, int Pending, int Fetched, int Failed, int Cancelled, DateTimeOffset CreatedAt,
    DateTimeOffset? CompletedAt)
{
    public bool IsCompleted => Status.Equals("completed", StringComparison.OrdinalIgnoreCase);

    /// <summary>The service's own view: completedAt − createdAt.</summary>
    public TimeSpan? ServerTime => CompletedAt - CreatedAt;
}

/// <summary>A batch from its POST to the poll that saw it completed.</summary>
sealed record BatchRun(Guid Id, TimeSpan Wall, Summary Summary, int Polls)
{
    /// <summary>How long the POST took (validation and the insert of every slot), when this run made it.</summary>
    public TimeSpan? Post { get; init; }
}

/// <summary>The bench's FetchApi client: submit, poll the summary, wait for completion.</summary>
sealed class ApiClient(HttpClient http)
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>How often a waiting batch is polled.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(10);

    sealed record SubmitOptions(int? Concurrency, bool IncludeBody, IReadOnlyList<string>? Extract, double? PerHostRequestsPerSecond = null,
        bool? RespectRobotsTxt = null);

    sealed record SubmitBody(IReadOnlyList<string> Urls, SubmitOptions Options);

    public Task<Guid> SubmitAsync(IReadOnlyList<string> urls, int? concurrency, IReadOnlyList<string>? extract = null) =>
        SubmitAsync(urls, new SubmitOptions(concurrency, false, extract));

    /// <summary>A batch that obeys robots.txt and asks for <paramref name="perHostRequestsPerSecond"/> per host.</summary>
    public Task<Guid> SubmitPoliteAsync(IReadOnlyList<string> urls, int concurrency, double perHostRequestsPerSecond) =>
        SubmitAsync(urls, new SubmitOptions(concurrency, false, null, perHostRequestsPerSecond, RespectRobotsTxt: true));

    async Task<Guid> SubmitAsync(IReadOnlyList<string> urls, SubmitOptions options)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new SubmitBody(urls, options), Json);
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await http.PostAsync(new Uri("/batches", UriKind.Relative), content);
        var text = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.Accepted)
        {
            throw new BenchException($"POST /batches answered {(int)response.StatusCode}: {text}");
        }

        using var document = JsonDocument.Parse(text);
        return document.RootElement.GetProperty("id").GetGuid();
    }

    public async Task<Summary> GetSummaryAsync(Guid id)
    {
        using var response = await http.GetAsync(new Uri($"/batches/{id}?results=false", UriKind.Relative));
        var text = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new BenchException($"GET /batches/{id}?results=false answered {(int)response.StatusCode}: {text}");
        }

        using var document = JsonDocument.Parse(text);
        var root = document.RootElement;
        var counts = root.GetProperty("counts");
        return new Summary(
            root.GetProperty("status").GetString() ?? "",
            counts.GetProperty("total").GetInt32(),
            counts.GetProperty("pending").GetInt32(),
            counts.GetProperty("fetched").GetInt32(),
            counts.GetProperty("failed").GetInt32(),
            counts.GetProperty("cancelled").GetInt32(),
            root.GetProperty("createdAt").GetDateTimeOffset(),
            root.TryGetProperty("completedAt", out var completed) && completed.ValueKind == JsonValueKind.String ? completed.GetDateTimeOffset() : null);
    }

    /// <summary>Polls until the batch is completed; the wall time runs from <paramref name="startedAt"/> (a Stopwatch timestamp).</summary>
    public async Task<BatchRun> WaitAsync(Guid id, long startedAt, TimeSpan timeout)
    {
        var polls = 0;
        while (true)
        {
            var summary = await GetSummaryAsync(id);
            polls++;
            if (summary.IsCompleted)
            {
                return new BatchRun(id, Stopwatch.GetElapsedTime(startedAt), summary, polls);
            }

            if (!summary.Status.Equals("running", StringComparison.OrdinalIgnoreCase) && !summary.Status.Equals("queued", StringComparison.OrdinalIgnoreCase))
            {
                throw new BenchException($"batch {id} ended as {summary.Status}");
            }

            if (Stopwatch.GetElapsedTime(startedAt) > timeout)
            {
                throw new BenchException($"batch {id} did not complete within {timeout.TotalSeconds} s: {summary}");
            }

            await Task.Delay(PollInterval);
        }
    }

    /// <summary>Submits and waits: wall time from just before the POST to the poll that sees <c>completed</c>.</summary>
    public async Task<BatchRun> RunAsync(IReadOnlyList<string> urls, int? concurrency, TimeSpan? timeout = null, IReadOnlyList<string>? extract = null)
    {
        var started = Stopwatch.GetTimestamp();
        var id = await SubmitAsync(urls, concurrency, extract);
        var post = Stopwatch.GetElapsedTime(started);
        return await WaitAsync(id, started, timeout ?? TimeSpan.FromMinutes(5)) with { Post = post };
    }
}
