using FetchApi.Engine;
using Npgsql;

namespace FetchApi.Storage;

/// <summary>
/// Carries changes between nodes: every node <c>LISTEN</c>s on <see cref="PostgresDatabase.Channel"/>, and writes
/// <c>NOTIFY</c> in the transaction that makes a change, so a notification arrives only once the change is visible.
/// <c>new</c> wakes the engines (work to claim), <c>changed</c> wakes waiters and event streams, <c>ended</c> also
/// wakes the callback dispatchers, <c>cancel</c> stops
/// fetches of a cancelled or deleted batch on every node. After a lost connection every waiter reads again. The same
/// connection is this node's life line (<see cref="PostgresNodes"/>): it holds the node's advisory lock, so the
/// others see the node dead the moment this connection ends.
/// </summary>
public sealed partial class PostgresNotifications(PostgresDatabase db, BatchChanges changes, TimeProvider time, ILogger<PostgresNotifications> logger)
    : IAsyncDisposable
{
    readonly CancellationTokenSource _stop = new();
    readonly TaskCompletionSource _firstListen = new(TaskCreationOptions.RunContinuationsAsynchronously);
    Task _listening = Task.CompletedTask;

    /// <summary>Starts listening; returns once the first <c>LISTEN</c> took effect, so that no change after it is missed.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _listening = ListenAsync(_stop.Token);
        await _firstListen.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
    }

    async Task ListenAsync(CancellationToken ct)
    {
        await Task.Yield();
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var connection = new NpgsqlConnection(db.ListenConnectionString);
                await connection.OpenAsync(ct);
                connection.Notification += (_, e) => Dispatch(e.Payload);
                await using (var listen = new NpgsqlCommand($"LISTEN {PostgresDatabase.Channel};", connection))
                {
                    await listen.ExecuteNonQueryAsync(ct);
                }

                await PostgresNodes.RegisterAsync(connection, db, time.GetUtcNow(), ct);

                _firstListen.TrySetResult();
                changes.PublishAll();
                while (true)
                {
                    await connection.WaitAsync(ct);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogListenFailed(ex);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    void Dispatch(string payload)
    {
        var (kind, ids) = PostgresNotice.Parse(payload);
        switch (kind)
        {
            case NoticeKind.New:
                changes.PublishWorkAdded();
                break;
            case NoticeKind.Cancel:
                ids.ForEach(changes.PublishCancelled);
                break;
            case NoticeKind.Ended:
                changes.Publish(ids, ended: true);
                break;
            default:
                changes.Publish(ids);
                break;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
#pragma warning disable VSTHRD003 // our own listening task, started in Start.
        await _listening;
#pragma warning restore VSTHRD003
        _stop.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Listening for changes from other nodes failed; reconnecting in 1 s")]
    partial void LogListenFailed(Exception exception);
}
