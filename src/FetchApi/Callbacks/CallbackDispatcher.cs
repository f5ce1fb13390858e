using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FetchApi.Engine;
using FetchApi.Model;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace FetchApi.Callbacks;

/// <summary>
/// POSTs a batch's summary to its <c>callback.url</c> when the batch ends, signed with
/// <c>FetchApi-Signature: sha256=&lt;hex HMAC-SHA256(secret, body)&gt;</c>. Each round makes a few quick attempts (Polly);
/// a failed round is scheduled again in the store with a growing delay, so delivery survives restarts, for up to
/// <c>Callbacks:MaxAge</c>. Callbacks go through the fetch client: the outbound address policy applies.
/// </summary>
public sealed partial class CallbackDispatcher(
    ICallbackOutbox outbox,
    BatchChanges changes,
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

    /// <summary>The longest a delivery round can take: three attempts with their timeouts and the delays between them.</summary>
    TimeSpan RoundLength => (4 * _options.Timeout) + (4 * _options.RetryDelay);

    public static string Sign(string secret, byte[] body) =>
        "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        changes.Ended += OnEnded;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    var due = await outbox.GetDueAsync(time.GetUtcNow(), RoundLength, 20, stoppingToken);
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
            changes.Ended -= OnEnded;
        }
    }

    /// <summary>A batch ended (here or on another node): look for due callbacks now.</summary>
    void OnEnded()
    {
        if (_wake.CurrentCount == 0)
        {
            _wake.Release();
        }
    }

    async Task DeliverAsync(DueCallback due, CancellationToken stoppingToken)
    {
        var summary = due.Summary;
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
                request.Headers.Add("FetchApi-Delivery", summary.Id.ToString());
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
                return response.IsSuccessStatusCode;
            }, stoppingToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            LogAttemptFailed(summary.Id, ex.Message);
        }

        var attempts = due.Attempts + 1;
        if (delivered)
        {
            await outbox.RecordAsync(summary.Id, CallbackState.Delivered, attempts, null, CancellationToken.None);
            return;
        }

        var endedAt = summary.CompletedAt ?? summary.CreatedAt;
        if (CallbackSchedule.NextRound(attempts, endedAt, time.GetUtcNow(), _options, Random.Shared.NextDouble()) is { } next)
        {
            await outbox.RecordAsync(summary.Id, CallbackState.Pending, attempts, next, CancellationToken.None);
        }
        else
        {
            LogGaveUp(summary.Id, attempts);
            await outbox.RecordAsync(summary.Id, CallbackState.GaveUp, attempts, null, CancellationToken.None);
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
