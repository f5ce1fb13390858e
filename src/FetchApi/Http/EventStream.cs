using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.Extensions.Options;

namespace FetchApi.Http;

/// <summary>One event of a stream: its type, its id (what <c>Last-Event-ID</c> sends back) and its JSON data.</summary>
public sealed record StreamEvent(string Type, long Id, object Data);

/// <summary>
/// A <c>text/event-stream</c> response as the WHATWG HTML standard describes it: a <c>retry:</c> field first (how long an
/// EventSource waits before it reconnects), then the events, with a comment line whenever the stream has been quiet for
/// <paramref name="keepAlive"/> so that proxies and load balancers do not close an idle connection. A HEAD request gets
/// the headers only.
/// </summary>
public sealed class EventStreamResult(IAsyncEnumerable<StreamEvent> events, TimeSpan keepAlive, TimeSpan retry)
    : IResult, IEndpointMetadataProvider
{
    public const string MediaType = "text/event-stream";

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        response.ContentType = MediaType;
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no"; // nginx: pass events through as they come
        if (HttpMethods.IsHead(httpContext.Request.Method))
        {
            return;
        }

        httpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        var json = httpContext.RequestServices.GetRequiredService<IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions;
        var cancellationToken = httpContext.RequestAborted;
        await WriteAsync(response, $"retry: {(long)retry.TotalMilliseconds}\n\n", cancellationToken);

        await using var enumerator = events.GetAsyncEnumerator(cancellationToken);
        var next = enumerator.MoveNextAsync().AsTask();
        try
        {
            while (true)
            {
                using var quiet = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var keptAlive = Task.Delay(keepAlive, quiet.Token);
                if (await Task.WhenAny(next, keptAlive) != next)
                {
                    await WriteAsync(response, ": keep-alive\n\n", cancellationToken);
                    continue;
                }

                await quiet.CancelAsync();
                if (!await next)
                {
                    return;
                }

                var e = enumerator.Current;
                // Serialized JSON holds no raw line break, so one data line carries it.
                await WriteAsync(response,
                    $"id: {e.Id.ToString(CultureInfo.InvariantCulture)}\nevent: {e.Type}\ndata: {JsonSerializer.Serialize(e.Data, e.Data.GetType(), json)}\n\n",
                    cancellationToken);
                next = enumerator.MoveNextAsync().AsTask();
            }
        }
        finally
        {
            // The client went away during a keep-alive: let the pending read end (it sees the same cancellation) before disposing.
            if (!next.IsCompleted)
            {
                try
                {
                    await next;
                }
                catch (OperationCanceledException)
                {
                }
            }
        }
    }

    static async Task WriteAsync(HttpResponse response, string text, CancellationToken cancellationToken)
    {
        await response.Body.WriteAsync(Encoding.UTF8.GetBytes(text), cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
    }

    // Documented as a Stream (type string, format binary): generated clients then hand the caller the open response stream
    // (NSwag: FileResponse), where a plain string schema makes NSwag read the whole body as a JSON string, which fails.
    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(Stream), [MediaType]));
}
