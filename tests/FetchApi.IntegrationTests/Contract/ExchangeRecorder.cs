using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.Features;
using Xunit.Sdk;

namespace FetchApi.IntegrationTests.Contract;

/// <summary>
/// Checks every exchange of one in-process host against the OpenAPI document that host serves (read once, on the first
/// exchange). A violation goes to the test that sent the request (<see cref="ContractViolations"/>); what no test took
/// is reported when the host is disposed. Requests for the document itself, the Swagger UI and /metrics are not API
/// operations and are not checked.
/// </summary>
public sealed class ExchangeRecorder : IDisposable
{
    static readonly string[] Infrastructure = ["/swagger", "/metrics"];

    readonly Func<Task<JsonObject>> _loadDocument;
    readonly SemaphoreSlim _loading = new(1, 1);
    DocumentValidator? _validator;
    readonly ConcurrentQueue<string> _unclaimed = new();
    readonly ConcurrentDictionary<string, bool> _seen = new();

    public ExchangeRecorder(Func<Task<JsonObject>> loadDocument) => _loadDocument = loadDocument;

    /// <summary>A change to the served document before it is used: for tests of the checking, with a document wrong on purpose.</summary>
    public Action<JsonObject>? EditDocument { get; set; }

    /// <summary>Every documented response an exchange landed on, as <c>POST /batches 202</c>, violations or not.</summary>
    public IReadOnlyCollection<string> Seen => [.. _seen.Keys];

    public async Task<DocumentValidator> ValidatorAsync()
    {
        if (Volatile.Read(ref _validator) is { } validator)
        {
            return validator;
        }

        await _loading.WaitAsync();
        try
        {
            if (_validator is null)
            {
                var document = await _loadDocument();
                EditDocument?.Invoke(document);
                Volatile.Write(ref _validator, new DocumentValidator(document));
            }

            return _validator;
        }
        finally
        {
            _loading.Release();
        }
    }

    public void Dispose() => _loading.Dispose();

    public static bool IsInfrastructure(PathString path) =>
        Infrastructure.Any(p => path.StartsWithSegments(p, StringComparison.OrdinalIgnoreCase));

    public async Task RecordAsync(Exchange exchange)
    {
        var verdict = (await ValidatorAsync()).Validate(exchange);
        if (verdict is { Operation: { } operation, Response: { } response })
        {
            _seen.TryAdd($"{operation} {response}", true);
        }

        if (verdict.Operation is null && ContractViolations.OutsideReason is not null)
        {
            return; // the test said this request is outside the document, and it is
        }

        foreach (var violation in verdict.Violations)
        {
            var text = $"{exchange}: {violation}";
            if (!ContractViolations.TryBlameCurrentTest(text))
            {
                _unclaimed.Enqueue(text);
            }
        }
    }

    /// <summary>
    /// At the host's end: violations that no test took go to the test disposing the host, if one is running, or else
    /// fail the disposal (a fixture's).
    /// </summary>
    public void ReportUnclaimed()
    {
        var left = new List<string>();
        while (_unclaimed.TryDequeue(out var violation))
        {
            left.Add(violation);
        }

        if (left.Count > 0 && !left.All(ContractViolations.TryBlameCurrentTest))
        {
            throw new XunitException(ContractViolations.Describe(left) + Environment.NewLine + "(requests sent outside any running test)");
        }
    }
}

/// <summary>
/// The recording middleware, outermost in the pipeline: it keeps the response body until the pipeline is done, checks
/// the exchange, then sends the body on, so that a violation is recorded before the client has read the response.
/// Server-Sent Events keep streaming: their status and headers are checked when the first bytes go out.
/// </summary>
public sealed class RecordExchanges(ExchangeRecorder recorder) : IStartupFilter
{
    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use((context, nextMiddleware) => ExchangeRecorder.IsInfrastructure(context.Request.Path)
            ? nextMiddleware(context)
            : RecordAsync(context, nextMiddleware));
        next(app);
    };

    async Task RecordAsync(HttpContext context, RequestDelegate next)
    {
        var original = context.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
        var capture = new CaptureStream(context, original, () => recorder.RecordAsync(Snapshot(context, null)));
        var feature = new StreamResponseBodyFeature(capture, original);
        context.Features.Set<IHttpResponseBodyFeature>(feature);
        try
        {
            await next(context);
            await feature.CompleteAsync();
        }
        finally
        {
            context.Features.Set(original);
        }

        if (capture.Streaming || context.RequestAborted.IsCancellationRequested)
        {
            return; // checked when it started streaming; or nobody is left to read the response
        }

        await original.StartAsync(context.RequestAborted); // OnStarting callbacks run: the headers are final
        var isHead = HttpMethods.IsHead(context.Request.Method);
        await recorder.RecordAsync(Snapshot(context, isHead ? (ReadOnlyMemory<byte>?)null : capture.Buffered));
        if (capture.Buffered.Length > 0)
        {
            await original.Stream.WriteAsync(capture.Buffered, context.RequestAborted);
        }
    }

    static Exchange Snapshot(HttpContext context, ReadOnlyMemory<byte>? body) => new(
        context.Request.Method, context.Request.Path.Value ?? "/", context.Request.QueryString.Value ?? "",
        context.Response.StatusCode, context.Response.ContentType,
        context.Response.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase), body,
        context.Request.Headers.Authorization.Count > 0);

    /// <summary>Keeps what is written, unless the response is a <c>text/event-stream</c>: then it passes everything through.</summary>
    sealed class CaptureStream(HttpContext context, IHttpResponseBodyFeature original, Func<Task> onStreaming) : Stream
    {
        readonly MemoryStream _buffer = new();

        public bool Streaming { get; private set; }

        public ReadOnlyMemory<byte> Buffered => _buffer.GetBuffer().AsMemory(0, (int)_buffer.Length);

        bool IsEventStream => context.Response.ContentType?.StartsWith("text/event-stream", StringComparison.OrdinalIgnoreCase) == true;

        async ValueTask<bool> StreamingAsync(CancellationToken cancellationToken)
        {
            if (!Streaming && _buffer.Length == 0 && IsEventStream)
            {
                Streaming = true;
                await original.StartAsync(cancellationToken);
                await onStreaming();
            }

            return Streaming;
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (await StreamingAsync(cancellationToken))
            {
                await original.Stream.WriteAsync(buffer, cancellationToken);
            }
            else
            {
                _buffer.Write(buffer.Span);
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count)
        {
            if (Streaming)
            {
                original.Stream.Write(buffer, offset, count);
            }
            else
            {
                _buffer.Write(buffer, offset, count);
            }
        }

        public override async Task FlushAsync(CancellationToken cancellationToken)
        {
            if (await StreamingAsync(cancellationToken))
            {
                await original.Stream.FlushAsync(cancellationToken);
            }
        }

        public override void Flush()
        {
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
