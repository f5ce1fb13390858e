using System.Diagnostics;

namespace FetchApi.Telemetry;

/// <summary>The <c>FetchApi</c> activity source: a span per batch (linked to the POST that created it) and per fetch attempt.</summary>
public static class FetchTracing
{
    public const string SourceName = "FetchApi";

    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>
    /// A root span for a batch's run: it outlives the request that created it, so it is linked to that request rather
    /// than parented by it.
    /// </summary>
    public static Activity? StartBatch(Guid batchId, ActivityContext createdBy)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var current = Activity.Current;
        Activity.Current = null;
        try
        {
            ActivityLink[] links = createdBy == default ? [] : [new ActivityLink(createdBy)];
            return Source.StartActivity("fetchapi.batch", ActivityKind.Internal, parentContext: default,
                tags: [new("fetchapi.batch.id", batchId.ToString())], links: links);
        }
        finally
        {
            Activity.Current = current;
        }
    }
}
