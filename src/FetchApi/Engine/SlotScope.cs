namespace FetchApi.Engine;

/// <summary>Log scope of one fetch: every line it logs carries the batch id and slot index as fields.</summary>
sealed class SlotScope(Guid batchId, int slotIndex) : IReadOnlyList<KeyValuePair<string, object>>
{
    public int Count => 2;

    public KeyValuePair<string, object> this[int index] => index == 0
        ? new("BatchId", batchId)
        : new("SlotIndex", slotIndex);

    public IEnumerator<KeyValuePair<string, object>> GetEnumerator()
    {
        yield return this[0];
        yield return this[1];
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => $"batch {batchId} slot {slotIndex}";
}
