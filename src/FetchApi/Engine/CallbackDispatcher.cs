using System.ComponentModel.DataAnnotations;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FetchApi.Model;
using FetchApi.Storage;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace FetchApi.Engine;

/// <summary>Batch callbacks (section <c>Callbacks</c>).</summary>
public sealed class CallbackOptions
{
    public const string Section = "Callbacks";

    /// <summary>How long after a batch ended its callback is still retried.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")] public TimeSpan MaxAge { get; set; } = TimeSpan.FromHours(24);

    /// <summary>First delay between the quick retries of one delivery round (Polly; doubles, with jitter).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")] public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Delay before the second round; doubles each round, at most an hour.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")] public TimeSpan RoundDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Timeout of one delivery attempt.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")] public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often due callbacks are looked for, besides right after a batch ends.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")] public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// POSTs a batch's summary to its <c>callback.url</c> when the batch ends, signed with
/// <c>FetchApi-Signature: sha256=&lt;hex HMAC-SHA256(secret, body)&gt;</c>. Each round makes a few quick attempts (Polly);
/// a failed round is scheduled again in the store with a growing delay, so delivery survives restarts, for up to
/// <c>Callbacks:MaxAge</c>. Callbacks go through the fetch client: the outbound address policy applies.
/// </summary>
public sealed partial class CallbackDispatcher(
    IBatchStore store,
    BatchNotifier notifier,
    IHttpClientFactory clients,
    IOptions<CallbackOptions> options,
    IOptions<JsonOptions> json,
    TimeProvider time,
    ILogger<CallbackDispatcher> logger) : BackgroundService
{
    readonly CallbackOptions _options = options.Value;
    readonly SemaphoreSlim _wake = new(0);

    readonly ResiliencePipeline<bool> _round = new ResiliencePipelineBuilder<bool> { TimeProvider = time }
        .AddRetry(new RetryStrategyOptions<bool>
        {
            MaxRetryAttempts = 2,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = options.Value.RetryDelay,
            ShouldHandle = args => ValueTask.FromResult((args.Outcome.Exception is not null || !args.Outcome.Result)
                && !args.Context.CancellationToken.IsCancellationRequested),
        })
        .AddTimeout(options.Value.Timeout)
        .Build();

    public static string Sign(string secret, byte[] body) =>
        "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        notifier.BatchesWritten += OnWritten;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    var due = await store.GetDueCallbacksAsync(time.GetUtcNow(), 20, stoppingToken);
                    await Task.WhenAll(due.Select(d => DeliverAsync(d, stoppingToken)));
                    if (due.Count == 20)
                    {
                        continue;
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    LogScanFailed(ex);
                }

                await _wake.WaitAsync(_options.PollInterval, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            notifier.BatchesWritten -= OnWritten;
        }
    }

    void OnWritten(IReadOnlyCollection<Guid> batches) => Poke();

    /// <summary>Look for due callbacks now (a batch just ended or was cancelled).</summary>
    public void Poke()
    {
        if (_wake.CurrentCount == 0)
        {
            _wake.Release();
        }
    }

    async Task DeliverAsync(DueCallback due, CancellationToken stoppingToken)
    {
        var summary = await store.GetSummaryAsync(due.BatchId, due.Owner, stoppingToken);
        if (summary is null)
        {
            return;
        }

        var body = JsonSerializer.SerializeToUtf8Bytes(summary, json.Value.SerializerOptions);
        var client = clients.CreateClient(Fetcher.ClientName);
        var delivered = false;
        try
        {
            delivered = await _round.ExecuteAsync(async ct =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, due.Callback.Url) { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                request.Headers.Add("FetchApi-Signature", Sign(due.Callback.Secret, body));
                request.Headers.Add("FetchApi-Event", summary.Status == BatchStatus.Cancelled ? "batch.cancelled" : "batch.completed");
                request.Headers.Add("FetchApi-Delivery", due.BatchId.ToString());
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
                return response.IsSuccessStatusCode;
            }, stoppingToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            LogAttemptFailed(due.BatchId, ex.Message);
        }

        var attempts = due.Attempts + 1;
        var now = time.GetUtcNow();
        if (delivered)
        {
            await store.RecordCallbackAsync(due.BatchId, CallbackState.Delivered, attempts, null, CancellationToken.None);
            return;
        }

        var delay = TimeSpan.FromTicks(Math.Min(_options.RoundDelay.Ticks * (1L << Math.Min(attempts - 1, 20)), TimeSpan.FromHours(1).Ticks));
        var next = now + delay * (0.8 + (0.4 * Random.Shared.NextDouble()));
        if (next - due.EndedAt > _options.MaxAge)
        {
            LogGaveUp(due.BatchId, attempts);
            await store.RecordCallbackAsync(due.BatchId, CallbackState.GaveUp, attempts, null, CancellationToken.None);
        }
        else
        {
            await store.RecordCallbackAsync(due.BatchId, CallbackState.Pending, attempts, next, CancellationToken.None);
        }
    }

    public override void Dispose()
    {
        _wake.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Callback of batch {BatchId} failed: {Reason}")]
    partial void LogAttemptFailed(Guid batchId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Callback of batch {BatchId} abandoned after {Rounds} rounds")]
    partial void LogGaveUp(Guid batchId, int rounds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Looking for due callbacks failed")]
    partial void LogScanFailed(Exception exception);
}
