using System.Reflection;
using System.Text.Json;
using FetchApi.Model;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.Extensions.Options;

namespace FetchApi.Batches;

/// <summary>
/// Every slot of a batch (optionally of one state), in index order, as NDJSON: one JSON object per line, the slot shape
/// of <c>GET /batches/{id}</c>. Read page by page by position, so memory stays constant whatever the batch size; each
/// page is one snapshot, and a batch that runs meanwhile shows its pending slots as pending.
/// </summary>
public sealed class NdjsonResults(IBatchQueries queries, Guid id, string? owner, SlotState? state, int pageSize)
    : IResult, IEndpointMetadataProvider
{
    public const string MediaType = "application/x-ndjson";

    static readonly byte[] NewLine = "\n"u8.ToArray();

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        response.ContentType = MediaType;
        if (HttpMethods.IsHead(httpContext.Request.Method))
        {
            return;
        }

        httpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        var json = httpContext.RequestServices.GetRequiredService<IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions;
        var cancellationToken = httpContext.RequestAborted;
        for (var after = -1; ;)
        {
            // A batch deleted while it streams simply ends the stream: the status line is long gone.
            if (await queries.GetPageAsync(id, owner, state, after, pageSize, cancellationToken) is not { } page)
            {
                return;
            }

            foreach (var slot in page.Slots)
            {
                await JsonSerializer.SerializeAsync(response.Body, slot, json, cancellationToken);
                await response.Body.WriteAsync(NewLine, cancellationToken);
            }

            await response.Body.FlushAsync(cancellationToken);
            if (!page.More)
            {
                return;
            }

            after = page.Slots[^1].Index;
        }
    }

    // Documented as a Stream (type string, format binary), like the event stream: generated clients then hand the caller
    // the open response to read line by line (NSwag: FileResponse). With the SlotResult schema NSwag reads the whole body
    // as one SlotResult, which fails at the second line. The description says what each line holds.
    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(Stream), [MediaType]));
}
