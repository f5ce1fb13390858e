using System.Diagnostics;
using FetchApi.Model;

namespace FetchApi.Engine;

// What the engine keeps of each running batch.
public sealed partial class FetchEngine
{
    /// <summary>What the engine keeps of a running batch besides the scheduler's queues.</summary>
    sealed class BatchRun : IDisposable
    {
        public BatchRun(FetchOptions options, Activity? activity, CancellationToken abort)
        {
            Options = options;
            Activity = activity;
            Fetches = CancellationTokenSource.CreateLinkedTokenSource(Cancellation.Token, abort);
        }

        public FetchOptions Options { get; }

        /// <summary>Cancelled when the batch is cancelled.</summary>
        public CancellationTokenSource Cancellation { get; } = new();

        /// <summary>
        /// What the batch's fetches run under: cancelled with the batch, or when shutdown aborts the fetches in flight.
        /// Linked once per batch rather than once per fetch (two registrations and a source fewer per URL, issue 16);
        /// disposed when the batch leaves the scheduler, when none of its fetches is in flight any more.
        /// </summary>
        public CancellationTokenSource Fetches { get; }

        public Activity? Activity { get; }

        public void Dispose()
        {
            Activity?.Dispose();
            Fetches.Dispose();
        }
    }
}
