using Npgsql;
using NpgsqlTypes;
using static FetchApi.Storage.PostgresDatabase;

namespace FetchApi.Storage;

/// <summary>What a <c>NOTIFY</c> between nodes says.</summary>
public enum NoticeKind
{
    /// <summary>A batch was stored: engines claim.</summary>
    New,

    /// <summary>Results of these batches were committed: waiters and event streams read again.</summary>
    Changed,

    /// <summary>These batches ended: also wakes the callback dispatchers.</summary>
    Ended,

    /// <summary>These batches were cancelled or deleted: every node stops their fetches.</summary>
    Cancel,
}

/// <summary>
/// The wire form of a notice: <c>kind:id,id,…</c>. One write may touch any number of batches; its notice is split
/// into as many payloads as it takes to stay under <c>NOTIFY</c>'s 8,000-byte limit, all sent in the transaction.
/// </summary>
public static class PostgresNotice
{
    /// <summary>Batch ids per payload: 37 bytes each with its comma, so 200 fill 7,400 bytes of the 8,000.</summary>
    public const int IdsPerPayload = 200;

    static readonly Dictionary<NoticeKind, string> Names = new()
    {
        [NoticeKind.New] = "new", [NoticeKind.Changed] = "changed", [NoticeKind.Ended] = "ended", [NoticeKind.Cancel] = "cancel",
    };

    /// <summary>The payloads that carry <paramref name="ids"/> (one payload, without ids, when there are none).</summary>
    public static string[] Payloads(NoticeKind kind, IReadOnlyCollection<Guid> ids) =>
        ids.Count == 0 ? [$"{Names[kind]}:"] : [.. ids.Chunk(IdsPerPayload).Select(chunk => $"{Names[kind]}:{string.Join(',', chunk)}")];

    /// <summary>Reads a payload; an unknown kind reads as <see cref="NoticeKind.Changed"/> (waiters read again: harmless).</summary>
    public static (NoticeKind Kind, List<Guid> Ids) Parse(string payload)
    {
        var colon = payload.IndexOf(':', StringComparison.Ordinal);
        var (name, rest) = colon < 0 ? (payload, "") : (payload[..colon], payload[(colon + 1)..]);
        var kind = Names.FirstOrDefault(n => n.Value == name, new(NoticeKind.Changed, "")).Key;
        var ids = rest.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => Guid.TryParse(s, out var id) ? id : Guid.Empty)
            .Where(id => id != Guid.Empty).ToList();
        return (kind, ids);
    }

    /// <summary>The statement that sends <c>@payloads</c>, for a batch of commands.</summary>
    public static NpgsqlBatchCommand Command(NoticeKind kind, IReadOnlyCollection<Guid> ids) =>
        new("SELECT pg_notify(@channel, p) FROM unnest(@payloads) AS p;")
        {
            Parameters = { Text("channel", Channel), P("payloads", Payloads(kind, ids), NpgsqlDbType.Array | NpgsqlDbType.Text) },
        };

    /// <summary>Tells every node, once this transaction commits.</summary>
    public static async Task SendAsync(NpgsqlConnection c, NpgsqlTransaction tx, NoticeKind kind, IReadOnlyCollection<Guid> ids, CancellationToken ct)
    {
        await using var batch = new NpgsqlBatch(c, tx) { BatchCommands = { Command(kind, ids) } };
        await batch.ExecuteNonQueryAsync(ct);
    }
}
