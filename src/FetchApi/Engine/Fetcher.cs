using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using FetchApi.Engine.Extraction;
using FetchApi.Model;
using FetchApi.Telemetry;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace FetchApi.Engine;

/// <summary>
/// Fetches one URL: attempts under a Polly pipeline (retry with backoff, Retry-After, per-attempt timeout),
/// redirects followed by hand, the body streamed, counted, hashed and capped. Never throws: every failure
/// becomes a slot <see cref="FetchError"/>.
/// </summary>
public sealed class Fetcher : IDisposable
{
    public const string ClientName = "fetch";

    static readonly ResiliencePropertyKey<FetchJob> JobKey = new("fetchapi.job");

    static readonly string EmptySha256 = Convert.ToHexStringLower(SHA256.HashData([]));

    readonly HttpMessageInvoker _client;
    readonly TimeProvider _time;
    readonly EngineOptions _options;
    readonly ResiliencePipeline<AttemptResult> _pipeline;
    readonly ResiliencePipeline<AttemptResult> _single;

    readonly Politeness _politeness;

    public Fetcher(IHttpMessageHandlerFactory handlers, IOptions<EngineOptions> options, TimeProvider time, Politeness politeness)
    {
        // The named client's handler without HttpClient around it: HttpClient links a cancellation source of its own
        // to every request's token and copies its default headers in, per request (issue 16). The factory keeps the
        // handler (its lifetime is infinite), so the invoker does not dispose it.
        _client = new HttpMessageInvoker(handlers.CreateHandler(ClientName), disposeHandler: false);
        _politeness = politeness;
        _time = time;
        _options = options.Value;
        var timeout = new TimeoutStrategyOptions
        {
            TimeoutGenerator = args => ValueTask.FromResult(TimeSpan.FromSeconds(args.Context.Properties.GetValue(JobKey, null!).Options.TimeoutSeconds)),
        };
        _pipeline = new ResiliencePipelineBuilder<AttemptResult> { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions<AttemptResult>
            {
                // The real bound is the batch's maxAttempts, checked in ShouldHandle.
                MaxRetryAttempts = 100,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = _options.RetryBaseDelay,
                MaxDelay = _options.RetryMaxDelay,
                ShouldHandle = args => ValueTask.FromResult(ShouldRetry(args.Outcome, args.AttemptNumber, args.Context)),
                DelayGenerator = args => ValueTask.FromResult(args.Outcome.Result?.RetryAfter),
            })
            .AddTimeout(timeout)
            .Build();
        // maxAttempts 1: no retry strategy to enter and leave around the one attempt.
        _single = new ResiliencePipelineBuilder<AttemptResult> { TimeProvider = time }.AddTimeout(timeout).Build();
    }

    /// <summary>What one attempt produced: a response, the upstream's Retry-After when it sent one, the page to extract from.</summary>
    sealed record AttemptResult(FetchResponse Response, TimeSpan? RetryAfter, byte[]? Page);

    sealed class FetchJob(Uri uri, FetchOptions options, IHostHolds? holds, ActivityContext parent)
    {
        public Uri Uri { get; } = uri;
        public ActivityContext Parent { get; } = parent;
        public FetchOptions Options { get; } = options;
        public IHostHolds? Holds { get; } = holds;
        public int Attempts { get; set; }
    }

    bool ShouldRetry(Outcome<AttemptResult> outcome, int attemptNumber, ResilienceContext context)
    {
        var job = context.Properties.GetValue(JobKey, null!);
        if (attemptNumber + 1 >= job.Options.MaxAttempts || context.CancellationToken.IsCancellationRequested)
        {
            return false;
        }

        if (outcome.Exception is { } exception)
        {
            return FetchErrors.IsTransient(FetchErrors.Classify(exception, job.Options.TimeoutSeconds).Code);
        }

        var result = outcome.Result!;
        if (!FetchErrors.IsRetryableStatus((HttpStatusCode)result.Response.StatusCode))
        {
            return false;
        }

        // Beyond the cap we do not sleep: the slot ends with this response.
        return result.RetryAfter is not { } retryAfter || retryAfter <= _options.MaxRetryAfter;
    }

    /// <summary>
    /// Fetches <paramref name="slot"/>; a cancelled token yields a <c>cancelled</c> slot. When the batch asks for
    /// extraction and the response is HTML, its body comes back as well, read whether or not <c>includeBody</c> is set.
    /// </summary>
    public async Task<FetchedSlot> FetchAsync(PendingSlot slot, FetchOptions options, IHostHolds? holds, ActivityContext parent,
        CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var job = new FetchJob(Target(slot.Url), options, holds, parent);
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(JobKey, job);
        try
        {
            var outcome = await (options.MaxAttempts > 1 ? _pipeline : _single).ExecuteOutcomeAsync(
                static async (ctx, state) =>
                {
                    try
                    {
                        return Outcome.FromResult(await state.fetcher.AttemptAsync(state.job, ctx.CancellationToken));
                    }
                    catch (Exception ex)
                    {
                        return Outcome.FromException<AttemptResult>(ex);
                    }
                },
                context,
                (fetcher: this, job));

            var elapsed = (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if (outcome.Exception is { } exception)
            {
                if (exception is OperationCanceledException && cancellationToken.IsCancellationRequested)
                {
                    return new(new SlotResult { Index = slot.Index, Url = slot.Url, State = SlotState.Cancelled, Attempts = job.Attempts, DurationMs = elapsed });
                }

                var error = FetchErrors.Classify(exception, options.TimeoutSeconds);
                return new(new SlotResult
                {
                    Index = slot.Index, Url = slot.Url, State = SlotState.Failed, Attempts = job.Attempts, DurationMs = elapsed,
                    Error = error with { Message = $"{error.Message} (attempt {job.Attempts} of {options.MaxAttempts})" },
                });
            }

            return new(
                new SlotResult
                {
                    Index = slot.Index, Url = slot.Url, State = SlotState.Fetched, Attempts = job.Attempts, DurationMs = elapsed,
                    Response = outcome.Result!.Response,
                },
                outcome.Result.Page);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    async Task<AttemptResult> AttemptAsync(FetchJob job, CancellationToken ct)
    {
        job.Attempts++;
        using var activity = FetchTracing.Source.StartActivity("fetchapi.fetch.attempt", ActivityKind.Client, job.Parent);
        if (activity is null)
        {
            return await SendAsync(job, ct);
        }

        activity.SetTag("server.address", job.Uri.IdnHost);
        activity.SetTag("server.port", job.Uri.Port);
        activity.SetTag("fetchapi.attempt", job.Attempts);
        try
        {
            var result = await SendAsync(job, ct);
            activity.SetTag("http.response.status_code", result.Response.StatusCode);
            activity.SetTag("fetchapi.redirects", result.Response.Redirects);
            return result;
        }
        catch (Exception ex)
        {
            var error = FetchErrors.Classify(ex, job.Options.TimeoutSeconds);
            activity.SetTag("error.type", FetchMetrics.ErrorCodeName(error.Code));
            activity.SetStatus(ActivityStatusCode.Error, error.Message);
            throw;
        }
    }

    async Task<AttemptResult> SendAsync(FetchJob job, CancellationToken ct)
    {
        var options = job.Options;
        var method = options.Method == "HEAD" ? HttpMethod.Head : HttpMethod.Get;
        var uri = job.Uri;
        for (var redirects = 0; ; redirects++)
        {
            using var request = new HttpRequestMessage(method, uri);
            foreach (var (name, value) in options.Headers)
            {
                // Credentials stay with the origin they were meant for, as browsers and curl do.
                if (redirects > 0 && name.Equals("Authorization", StringComparison.OrdinalIgnoreCase) && !SameOrigin(uri, job.Uri))
                {
                    continue;
                }

                if (!request.Headers.TryAddWithoutValidation(name, value))
                {
                    request.Content ??= new ByteArrayContent([]);
                    request.Content.Headers.TryAddWithoutValidation(name, value);
                }
            }

            if (!request.Headers.Contains("User-Agent"))
            {
                request.Headers.TryAddWithoutValidation("User-Agent", _options.UserAgent);
            }

            // Every request start (retries and redirect hops too) asks robots.txt and the host's rate first.
            var host = await _politeness.BeforeRequestAsync(uri, options, job.Holds, ct);
            var sent = Stopwatch.GetTimestamp();
            using var response = await _client.SendAsync(request, ct);
            _politeness.Observe(host, (int)response.StatusCode, response.Headers.RetryAfter is not null, Stopwatch.GetElapsedTime(sent));
            if (options.FollowRedirects && IsRedirect(response.StatusCode)
                && response.Headers.NonValidated.TryGetValues("Location", out var locations) && locations.FirstOrDefault() is { } location)
            {
                // The raw header, resolved as browsers do: HttpClient's own parse refuses some values browsers follow.
                var next = RedirectTarget.Resolve(uri, location);
                if (redirects >= options.MaxRedirects)
                {
                    throw new FetchFailureException(FetchErrorCode.TooManyRedirects,
                        $"more than {options.MaxRedirects} redirects (the last one pointed to {next})");
                }

                if (next.Scheme != Uri.UriSchemeHttp && next.Scheme != Uri.UriSchemeHttps)
                {
                    throw new FetchFailureException(FetchErrorCode.ProtocolError, $"redirect to a URL that is not http or https: {next}");
                }

                if (response.StatusCode == HttpStatusCode.SeeOther && method != HttpMethod.Head)
                {
                    method = HttpMethod.Get;
                }

                uri = next;
                continue;
            }

            var retryAfter = RetryAfter.Delay(response.Headers.RetryAfter, _time.GetUtcNow());
            if (retryAfter is { } wait && wait <= _options.MaxRetryAfter
                && response.StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable)
            {
                // The host asked everyone to wait, not just this slot: the scheduler holds the host back, whether or not
                // this slot retries. A wait beyond the cap is not honoured at all: its slots end with the response.
                job.Holds?.RetryAfter(wait);
            }

            var (length, sha256, body, page) = await ReadBodyAsync(response, options, ct);
            return new AttemptResult(
                new FetchResponse
                {
                    StatusCode = (int)response.StatusCode,
                    ReasonPhrase = response.ReasonPhrase,
                    FinalUrl = uri.AbsoluteUri,
                    Redirects = redirects,
                    ContentType = response.Content.Headers.ContentType?.ToString(),
                    ContentLength = length,
                    Sha256 = sha256,
                    Body = body,
                },
                retryAfter,
                page);
        }
    }

    /// <summary>
    /// The URL as it is requested: a host in fullwidth or enclosed forms (<c>１２７．０．０．１</c>) is mapped to what it
    /// means before the address policy judges it, as for redirects (<see cref="RedirectTarget"/>).
    /// </summary>
    static Uri Target(string url)
    {
        var uri = new Uri(url);
        if (uri.Host.All(char.IsAscii))
        {
            return uri;
        }

        try
        {
            return RedirectTarget.Resolve(uri, url);
        }
        catch (FetchFailureException)
        {
            return uri;
        }
    }

    public void Dispose() => _client.Dispose();

    static bool SameOrigin(Uri a, Uri b) =>
        a.Scheme == b.Scheme && a.IdnHost.Equals(b.IdnHost, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port;

    static bool IsRedirect(HttpStatusCode status) => (int)status is 301 or 302 or 303 or 307 or 308;

    static async Task<(long Length, string Sha256, string? Body, byte[]? Page)> ReadBodyAsync(HttpResponseMessage response, FetchOptions options,
        CancellationToken ct)
    {
        if (response.RequestMessage?.Method == HttpMethod.Head)
        {
            // A HEAD response declares the length of a body it does not send: nothing to read, nothing to cap.
            return (0, EmptySha256, null, null);
        }

        var max = options.MaxBodyBytes;
        if (response.Content.Headers.ContentLength > max)
        {
            throw new FetchFailureException(FetchErrorCode.BodyTooLarge,
                $"the body is {response.Content.Headers.ContentLength} bytes, more than maxBodyBytes {max}; nothing was read");
        }

        var contentType = response.Content.Headers.ContentType;
        var include = options.IncludeBody && IsTextual(contentType?.MediaType);
        var extract = options.Extract.Count > 0 && HtmlExtractor.IsHtml(contentType?.MediaType);
        // Sized by the declared length, up to 4 MiB: a larger body grows the buffer as it actually arrives.
        using var kept = include || extract ? new MemoryStream((int)Math.Min(response.Content.Headers.ContentLength ?? 0, Math.Min(max, 4 << 20))) : null;
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        // A body that fits in the buffer (most of them) is hashed in one call once read; a larger one streams through an
        // incremental hash, a buffer at a time. One-shot hashing skips a native hash context per fetch (issue 16).
        IncrementalHash? hash = null;
        var filled = 0;
        long total = 0;
        string sha256;
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(ct);
            int read;
            while ((read = await stream.ReadAsync(buffer.AsMemory(filled), ct)) > 0)
            {
                total += read;
                if (total > max)
                {
                    throw new FetchFailureException(FetchErrorCode.BodyTooLarge,
                        $"the body exceeded maxBodyBytes {max} (after decompression); reading stopped there");
                }

                kept?.Write(buffer, filled, read);
                filled += read;
                if (filled == buffer.Length)
                {
                    hash ??= IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                    hash.AppendData(buffer, 0, filled);
                    filled = 0;
                }
            }

            if (hash is null)
            {
                sha256 = Convert.ToHexStringLower(SHA256.HashData(buffer.AsSpan(0, filled)));
            }
            else
            {
                hash.AppendData(buffer, 0, filled);
                sha256 = Convert.ToHexStringLower(hash.GetHashAndReset());
            }
        }
        finally
        {
            hash?.Dispose();
            ArrayPool<byte>.Shared.Return(buffer);
        }

        var body = include ? Decode(kept!, contentType?.CharSet) : null;
        // Exactly the bytes read: the CPU stage holds whole pages, so no page keeps a buffer larger than itself.
        var page = !extract ? null : kept!.Length == kept.Capacity ? kept.GetBuffer() : kept.ToArray();
        return (total, sha256, body, page);
    }

    static bool IsTextual(string? mediaType) =>
        mediaType is not null && (mediaType.StartsWith("text/", StringComparison.OrdinalIgnoreCase)
            || mediaType.EndsWith("json", StringComparison.OrdinalIgnoreCase)
            || mediaType.EndsWith("xml", StringComparison.OrdinalIgnoreCase)
            || mediaType.Contains("javascript", StringComparison.OrdinalIgnoreCase)
            || mediaType.Equals("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase));

    static string Decode(MemoryStream bytes, string? charset)
    {
        Encoding encoding;
        try
        {
            encoding = string.IsNullOrWhiteSpace(charset) ? Encoding.UTF8 : Encoding.GetEncoding(charset.Trim('"'));
        }
        catch (ArgumentException)
        {
            encoding = Encoding.UTF8;
        }

        return encoding.GetString(bytes.GetBuffer(), 0, (int)bytes.Length);
    }
}
