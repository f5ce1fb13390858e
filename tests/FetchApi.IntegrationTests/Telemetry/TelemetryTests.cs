using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using FetchApi.IntegrationTests.Durability;
using FetchApi.IntegrationTests.Upstream;

namespace FetchApi.IntegrationTests.Telemetry;

public sealed class TelemetryTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Collects the FetchApi meter's measurements of one service instance (meters of other test hosts are ignored).</summary>
    sealed class Measurements : IDisposable
    {
        readonly MeterListener _listener = new();
        public ConcurrentQueue<(string Name, double Value, Dictionary<string, object?> Tags)> All { get; } = new();

        public Measurements(IMeterFactory scope)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == "FetchApi" && ReferenceEquals(instrument.Meter.Scope, scope))
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i, v, tags));
            _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i, v, tags));
            _listener.Start();
        }

        void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags) =>
            All.Enqueue((instrument.Name, value, tags.ToArray().ToDictionary(t => t.Key, t => t.Value)));

        public double Sum(string name, string? tag = null, string? value = null) =>
            All.Where(m => m.Name == name && (tag is null || Equals(m.Tags.GetValueOrDefault(tag), value))).Sum(m => m.Value);

        public int Count(string name) => All.Count(m => m.Name == name);

        public void Observe() => _listener.RecordObservableInstruments();

        public void Dispose() => _listener.Dispose();
    }

    [Fact]
    public async Task MeterCountsAKnownBatch()
    {
        await using var upstream = await UpstreamServer.StartAsync();
        await using var factory = new FetchApiFactory();
        using var client = factory.CreateClient();
        using var measurements = new Measurements(factory.Services.GetRequiredService<IMeterFactory>());
        var refused = $"http://127.0.0.1:{UpstreamServer.ClosedPort()}/";

        var id = await client.SubmitAsync([upstream.Url("/ok"), upstream.Url("/bytes/1000"), upstream.Url("/status/404"), refused],
            new { maxAttempts = 2 });
        await client.WaitUntilDoneAsync(id);

        // The writer counts completion after its commit, which the poll can overtake: wait for the count.
        await Api.EventuallyAsync(() => measurements.Sum("fetchapi.batches", "status", "completed") >= 1, "no completed batch was counted");

        Assert.Equal(3, measurements.Sum("fetchapi.fetches", "outcome", "fetched"));
        Assert.Equal(1, measurements.Sum("fetchapi.fetches", "error.code", "connection_refused"));
        Assert.Equal(1 + 1 + 1 + 2, measurements.Sum("fetchapi.fetch.attempts")); // the refused port was tried twice
        Assert.Equal(5 + 1000, measurements.Sum("fetchapi.fetch.bytes"));
        Assert.Equal(4, measurements.Count("fetchapi.fetch.duration"));
        Assert.Equal(1, measurements.Sum("fetchapi.batches", "status", "queued"));

        measurements.Observe();
        Assert.Equal(0, measurements.All.Last(m => m.Name == "fetchapi.backlog").Value);
        Assert.Equal(0, measurements.All.Last(m => m.Name == "fetchapi.fetches.in_flight").Value);
    }

    [Fact]
    public async Task RateLimitRejectionsAreCountedByPolicy()
    {
        await using var factory = new FetchApiFactory(new Dictionary<string, string?>
        {
            ["RateLimiting:ApiPerSecond"] = "1", ["RateLimiting:ApiBurst"] = "1",
        });
        using var client = factory.CreateClient();
        using var measurements = new Measurements(factory.Services.GetRequiredService<IMeterFactory>());

        for (var i = 0; i < 4; i++)
        {
            using var _ = await client.GetAsync("/batches", Ct);
        }

        Assert.True(measurements.Sum("fetchapi.rate_limit.rejections", "policy", "api") >= 2);
    }

    [Fact]
    public async Task PrometheusEndpointServesTheMeterWhenEnabled()
    {
        await using var upstream = await UpstreamServer.StartAsync();
        await using var factory = new FetchApiFactory(new Dictionary<string, string?> { ["Telemetry:Prometheus"] = "true" });
        using var client = factory.CreateClient();
        await client.WaitUntilDoneAsync(await client.SubmitAsync([upstream.Url("/ok")]));

        var deadline = DateTime.UtcNow + Api.DefaultDeadline;
        string text;
        do
        {
            Assert.True(DateTime.UtcNow < deadline, "the scrape never showed the fetch");
            text = await client.GetStringAsync("/metrics", Ct);
        }
        while (!text.Contains("fetchapi_fetches_total{", StringComparison.Ordinal));

        Assert.Contains("outcome=\"fetched\"", text, StringComparison.Ordinal);
        Assert.Contains("fetchapi_fetch_duration_seconds_bucket", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MetricsEndpointIsOffByDefault()
    {
        await using var factory = new FetchApiFactory();
        using var client = factory.CreateClient();
        using var response = await client.GetAsync("/metrics", Ct);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task BatchSpanLinksToThePostAndAttemptSpansCarryHostStatusAndAttempt()
    {
        await using var upstream = await UpstreamServer.StartAsync();
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is "FetchApi" or "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        await using var factory = new FetchApiFactory();
        using var client = factory.CreateClient();
        var key = Guid.NewGuid().ToString("N");

        // The client sends its own trace context: the batch span must link to the request that carried it.
        var clientTrace = ActivityTraceId.CreateRandom();
        using var post = new HttpRequestMessage(HttpMethod.Post, "/batches")
        {
            Content = System.Net.Http.Json.JsonContent.Create(new { urls = new[] { upstream.Url("/ok"), upstream.Url($"/flaky/{key}/1") }, options = new { maxAttempts = 2 } }),
        };
        post.Headers.Add("traceparent", $"00-{clientTrace}-{ActivitySpanId.CreateRandom()}-01");
        using var created = await client.SendAsync(post, Ct);
        Assert.Equal(HttpStatusCode.Accepted, created.StatusCode);
        var id = System.Text.Json.Nodes.JsonNode.Parse(await created.Content.ReadAsStringAsync(Ct))!["id"]!.GetValue<Guid>();
        await client.WaitUntilDoneAsync(id);

        Activity? batch = null;
        await Api.EventuallyAsync(
            () => (batch = spans.FirstOrDefault(s => s.OperationName == "fetchapi.batch" && (string?)s.GetTagItem("fetchapi.batch.id") == id.ToString())) is not null,
            "no batch span");
        Assert.NotNull(batch);

        var link = Assert.Single(batch.Links).Context;
        Assert.Equal(clientTrace, link.TraceId);
        var request = spans.Single(s => s.Source.Name == "Microsoft.AspNetCore" && s.SpanId == link.SpanId);
        Assert.Equal(clientTrace, request.TraceId);
        Assert.NotEqual(clientTrace, batch.TraceId); // a root of its own: it outlives the request

        var attempts = spans.Where(s => s.OperationName == "fetchapi.fetch.attempt" && s.ParentSpanId == batch.SpanId).ToList();
        Assert.Equal(3, attempts.Count); // /ok once, the flaky URL twice
        Assert.All(attempts, a => Assert.Equal("127.0.0.1", a.GetTagItem("server.address")));
        Assert.Contains(attempts, a => (int?)a.GetTagItem("http.response.status_code") == 503 && (int?)a.GetTagItem("fetchapi.attempt") == 1);
        Assert.Contains(attempts, a => (int?)a.GetTagItem("http.response.status_code") == 200 && (int?)a.GetTagItem("fetchapi.attempt") == 2);
    }

    [Fact]
    public async Task LogsAreJsonLinesWithoutKeysOrQueryStrings()
    {
        const string apiKey = "very-secret-api-key-1234";
        await using var upstream = await UpstreamServer.StartAsync();
        var directory = Path.Combine(Path.GetTempPath(), "fetchapi-logs", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        await using (var service = await ServiceProcess.StartAsync(Path.Combine(directory, "fetchapi.db"), new Dictionary<string, string>
        {
            ["Security__ApiKeys__0__Name"] = "logs",
            ["Security__ApiKeys__0__Key"] = apiKey,
            ["Logging__LogLevel__Default"] = "Information",
            ["Logging__LogLevel__Microsoft.AspNetCore"] = "Information",
        }))
        {
            service.Client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", apiKey);
            // One URL that is fetched and one that fails (a closed loopback port), both with a secret in the query.
            var id = await service.Client.SubmitAsync(
                [upstream.Url("/ok?token=QUERY-SECRET"), $"http://127.0.0.1:{UpstreamServer.ClosedPort()}/?token=QUERY-SECRET"]);
            await service.Client.WaitUntilDoneAsync(id);
            using (await service.Client.GetAsync($"/batches/{id}?results=false&token=QUERY-SECRET", Ct))
            {
            }

            using var wrong = new HttpRequestMessage(HttpMethod.Get, "/batches");
            wrong.Headers.Authorization = new("Bearer", "not-the-key-but-also-secret");
            using var _ = await service.Client.SendAsync(wrong, Ct);
            await service.TerminateAsync(TimeSpan.FromSeconds(30));

            var lines = service.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.NotEmpty(lines);
            Assert.All(lines, line => Assert.StartsWith("{", line, StringComparison.Ordinal)); // JSON console outside Development
            Assert.DoesNotContain(apiKey, service.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("not-the-key-but-also-secret", service.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("QUERY-SECRET", service.Output, StringComparison.Ordinal);
        }

        Directory.Delete(directory, recursive: true);
    }
}
