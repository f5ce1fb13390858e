using System.Collections.Concurrent;

namespace FetchApi.Engine;

/// <summary>
/// Threads of their own for CPU-bound work, as a <see cref="TaskScheduler"/>: an async loop started here resumes here
/// after every await, so its work never takes a thread-pool thread from the fetches (and a busy pool never delays it).
/// The threads are named <c>fetchapi-cpu-N</c>, which is how a profile or <c>/proc/PID/task/*/comm</c> tells them apart.
/// </summary>
sealed class CpuThreads : TaskScheduler, IDisposable
{
    [ThreadStatic] static bool _isStageThread;

    readonly BlockingCollection<Task> _tasks = [];
    readonly Thread[] _threads;

    public CpuThreads(int count)
    {
        _threads = [.. Enumerable.Range(1, count).Select(i => new Thread(Run) { IsBackground = true, Name = $"fetchapi-cpu-{i}" })];
        foreach (var thread in _threads)
        {
            thread.Start();
        }
    }

    /// <summary>Whether the calling code runs on one of these threads.</summary>
    public static bool IsCurrent => _isStageThread;

    /// <summary>Starts <paramref name="work"/> on these threads; it stays on them.</summary>
    public Task Run(Func<Task> work) =>
        Task.Factory.StartNew(work, CancellationToken.None, TaskCreationOptions.DenyChildAttach, this).Unwrap();

    void Run()
    {
        _isStageThread = true;
        foreach (var task in _tasks.GetConsumingEnumerable())
        {
            TryExecuteTask(task);
        }
    }

    public override int MaximumConcurrencyLevel => _threads.Length;

    protected override void QueueTask(Task task)
    {
        try
        {
            _tasks.Add(task);
        }
        catch (InvalidOperationException)
        {
            // Disposed: the service has stopped and the stage's loops have ended or were given up on. Whatever still
            // resumes (a page that outlived the shutdown timeout) finishes on the pool; nothing of it is written any more.
            ThreadPool.UnsafeQueueUserWorkItem(t => TryExecuteTask(t), task, preferLocal: false);
        }
    }

    // Never inline onto a caller's thread (a fetch completing a wait, say): only these threads run this work.
    protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) => _isStageThread && TryExecuteTask(task);

    protected override IEnumerable<Task> GetScheduledTasks() => [.. _tasks];

    /// <summary>The threads end once the work queued so far has run.</summary>
    public void Dispose() => _tasks.CompleteAdding();
}
