namespace FetchApi.Engine;

/// <summary>
/// Decides what runs next. It hands out pending slots round-robin across active batches (one slot per batch per turn,
/// so a small batch is never stuck behind a large one) and, within a batch, round-robin across hosts, under three
/// limits at once: global, per batch (<c>options.concurrency</c>) and per host. A host that sent Retry-After is held
/// until then. Each batch keeps only a window of its pending slots here; it asks for more as the window drains.
/// <para>
/// Synchronous, no I/O, not thread-safe (the engine calls it under one lock), and the clock is an argument: every
/// decision can be tested in microseconds.
/// </para>
/// </summary>
public sealed partial class Scheduler(EngineOptions options)
{
    readonly List<BatchQueue> _batches = [];
    readonly Dictionary<Guid, BatchQueue> _byId = [];
    readonly Dictionary<Guid, DateTimeOffset> _cancelledEarly = [];
    int _cursor;
    bool _stopping;

    /// <summary>URLs accepted but not yet dispatched: held here or still in the store.</summary>
    public long Backlog { get; private set; }

    /// <summary>Dispatched and not yet completed.</summary>
    public int InFlight { get; private set; }

    /// <summary>Batches with slots waiting or in flight.</summary>
    public int ActiveBatches => _batches.Count;

    /// <summary>Whether the batch has slots waiting or in flight here.</summary>
    public bool IsScheduled(Guid batchId) => _byId.ContainsKey(batchId);

    /// <summary>Whether <paramref name="urls"/> more URLs fit under <c>Engine:MaxBacklog</c>.</summary>
    public bool HasRoomFor(int urls) => Backlog + urls <= options.MaxBacklog;

    /// <summary>How many pending slots of one batch are held here at most.</summary>
    public int Window(int concurrency) => Math.Max(options.WindowSize, 2 * concurrency);

    /// <summary>
    /// Adds a batch with <paramref name="pending"/> slots still to fetch, the first ones (in index order) given in
    /// <paramref name="first"/>. False, and nothing changes, when the batch is already here, was cancelled before it
    /// was added, has nothing pending, or the scheduler is stopping.
    /// </summary>
    public bool Add(Guid batchId, int concurrency, int pending, IEnumerable<PendingSlot> first)
    {
        if (_stopping || pending == 0 || _cancelledEarly.ContainsKey(batchId) || _byId.ContainsKey(batchId))
        {
            return false;
        }

        var batch = new BatchQueue(batchId, concurrency, pending);
        foreach (var slot in first.Take(Window(concurrency)))
        {
            batch.Enqueue(slot);
        }

        _byId.Add(batchId, batch);
        _batches.Add(batch);
        Backlog += pending;
        return true;
    }

    /// <summary>
    /// Adds slots claimed for a batch (several nodes): the batch is added when it is not here yet. The claim already
    /// kept the cluster-wide limits, so these slots are dispatched at the next <see cref="Next"/>.
    /// </summary>
    public void Offer(Guid batchId, int concurrency, IReadOnlyList<PendingSlot> slots)
    {
        if (_stopping || slots.Count == 0 || _cancelledEarly.ContainsKey(batchId))
        {
            return;
        }

        if (!_byId.TryGetValue(batchId, out var batch))
        {
            batch = new BatchQueue(batchId, concurrency, 0);
            _byId.Add(batchId, batch);
            _batches.Add(batch);
        }
        else if (batch.Cancelled)
        {
            return; // a claim that raced with the cancel: its slots are cancelled in the store already
        }

        foreach (var slot in slots)
        {
            batch.Enqueue(slot);
            batch.NotDispatched++;
            Backlog++;
        }
    }

    /// <summary>
    /// Drops a batch's waiting slots; its dispatches in flight complete as usual. True when the batch was here (the
    /// caller aborts its fetches); false when it was not: it is remembered for a minute, so that an
    /// <see cref="Add"/> racing with the cancel does not run it.
    /// </summary>
    public bool Cancel(Guid batchId, DateTimeOffset now)
    {
        if (!_byId.TryGetValue(batchId, out var batch))
        {
            foreach (var (id, at) in _cancelledEarly)
            {
                if (now - at > TimeSpan.FromMinutes(1))
                {
                    _cancelledEarly.Remove(id);
                }
            }

            _cancelledEarly[batchId] = now;
            return false;
        }

        Backlog -= batch.NotDispatched;
        batch.Cancelled = true;
        batch.NotDispatched = 0;
        batch.Queued = 0;
        batch.Queues.Clear();
        batch.Hosts.Clear();
        RemoveIfDone(batch);
        return true;
    }

    /// <summary>From now on nothing is dispatched.</summary>
    public void Stop() => _stopping = true;

    /// <summary>
    /// Everything that can start now, fairly across batches, under the three limits; the batches whose window should be
    /// topped up from the store; batches dispatched for the first time; and when to ask again if a held host is the
    /// only thing waiting.
    /// </summary>
    public Decision Next(DateTimeOffset now)
    {
        var work = new List<Dispatch>();
        var started = new List<Guid>();
        var refills = new List<Refill>();
        DateTimeOffset? earliest = null;
        ForgetIdleHosts(now);
        var progress = !_stopping;
        while (progress && InFlight < options.GlobalConcurrency && _batches.Count > 0)
        {
            progress = false;
            for (var i = 0; i < _batches.Count && InFlight < options.GlobalConcurrency; i++)
            {
                var batch = _batches[(_cursor + i) % _batches.Count];
                if (batch.InFlight >= batch.Concurrency || batch.Queued == 0)
                {
                    continue;
                }

                if (TryTake(batch, now, ref earliest) is { } dispatch)
                {
                    work.Add(dispatch);
                    progress = true;
                    if (!batch.Started)
                    {
                        batch.Started = true;
                        started.Add(batch.Id);
                    }
                }
            }

            _cursor = _batches.Count == 0 ? 0 : (_cursor + 1) % _batches.Count;
        }

        foreach (var batch in _batches)
        {
            if (NeedsRefill(batch))
            {
                batch.Refilling = true;
                refills.Add(new Refill(batch.Id, batch.LastLoadedIndex, Window(batch.Concurrency) - batch.Queued));
            }
        }

        if (_heldIdle.TryPeek(out _, out var holdEnds) && (earliest is not { } e || holdEnds + IdleHoldSlack < e))
        {
            earliest = holdEnds + IdleHoldSlack;
        }

        return new Decision(work, refills, started, earliest is { } at ? at - now : null);
    }

    /// <summary>
    /// Records that <paramref name="done"/> finished. With <paramref name="takeNext"/>, hands back the next slot of the
    /// same batch when no other batch is waiting for one (so the caller can run it without a round through the loop);
    /// when another batch is waiting, the freed slot is left for <see cref="Next"/>, which shares it round-robin.
    /// </summary>
    public Completion Complete(Dispatch done, DateTimeOffset now, bool takeNext)
    {
        var batch = _byId.GetValueOrDefault(done.BatchId) ?? throw new InvalidOperationException($"batch {done.BatchId} is not scheduled");
        batch.InFlight--;
        InFlight--;
        var host = _hosts[done.Host];
        host.InFlight--;
        if (host.InFlight == 0)
        {
            ForgetOrWatch(done.Host, host, now);
        }

        Dispatch? next = null;
        if (takeNext && !_stopping && batch.Queued > 0 && !OthersWaiting(batch))
        {
            DateTimeOffset? ignored = null;
            next = TryTake(batch, now, ref ignored);
        }

        var ended = RemoveIfDone(batch);
        // The loop still has to run when nothing follows here, or when the window needs topping up.
        return new Completion(next, WakeLoop: next is null || NeedsRefill(batch), ended);
    }

    /// <summary>
    /// Adds what the store returned for a <see cref="Refill"/>. An empty page while slots were expected means the
    /// rest became final meanwhile: they leave the backlog. True when the batch has ended here.
    /// </summary>
    public bool Refilled(Guid batchId, IReadOnlyList<PendingSlot> page)
    {
        if (!_byId.TryGetValue(batchId, out var batch))
        {
            return false;
        }

        batch.Refilling = false;
        if (batch.Cancelled)
        {
            return false;
        }

        foreach (var slot in page)
        {
            if (slot.Index > batch.LastLoadedIndex)
            {
                batch.Enqueue(slot);
            }
        }

        if (page.Count == 0 && batch.NotDispatched > batch.Queued)
        {
            Backlog -= batch.NotDispatched - batch.Queued;
            batch.NotDispatched = batch.Queued;
            return RemoveIfDone(batch);
        }

        return false;
    }

    /// <summary>A refill failed: nothing was learnt, every count stays, and the next <see cref="Next"/> asks again.</summary>
    public void RefillFailed(Guid batchId)
    {
        if (_byId.TryGetValue(batchId, out var batch))
        {
            batch.Refilling = false;
        }
    }

    /// <summary>The host key a URL is limited under: <c>host:port</c>, IDN as punycode.</summary>
    public static string HostKey(string url) => Uri.TryCreate(url, UriKind.Absolute, out var uri) ? $"{uri.IdnHost}:{uri.Port}" : url;

    bool NeedsRefill(BatchQueue batch) =>
        !batch.Refilling && !batch.Cancelled && batch.NotDispatched > batch.Queued && batch.Queued < Window(batch.Concurrency) / 2;

    Dispatch? TryTake(BatchQueue batch, DateTimeOffset now, ref DateTimeOffset? earliest)
    {
        for (var i = 0; i < batch.Hosts.Count; i++)
        {
            var index = (batch.HostCursor + i) % batch.Hosts.Count;
            var host = batch.Hosts[index];
            var state = _hosts.GetValueOrDefault(host);
            if (state is not null && state.InFlight >= options.PerHostConcurrency)
            {
                continue;
            }

            if (state is not null && state.NotBefore > now)
            {
                earliest = earliest is { } e && e < state.NotBefore ? e : state.NotBefore;
                continue;
            }

            if (state is null)
            {
                _hosts[host] = state = new HostState();
            }

            var queue = batch.Queues[host];
            var slot = queue.Dequeue();
            if (queue.Count == 0)
            {
                batch.Queues.Remove(host);
                batch.Hosts.RemoveAt(index);
                batch.HostCursor = batch.Hosts.Count == 0 ? 0 : index % batch.Hosts.Count;
            }
            else
            {
                batch.HostCursor = (index + 1) % batch.Hosts.Count;
            }

            batch.Queued--;
            batch.NotDispatched--;
            batch.InFlight++;
            state.InFlight++;
            InFlight++;
            Backlog--;
            return new Dispatch(batch.Id, host, slot);
        }

        return null;
    }

    /// <summary>Whether a batch other than <paramref name="batch"/> has slots waiting and room to run them.</summary>
    bool OthersWaiting(BatchQueue batch)
    {
        if (_batches.Count == 1)
        {
            return false;
        }

        foreach (var other in _batches)
        {
            if (other != batch && other.Queued > 0 && other.InFlight < other.Concurrency)
            {
                return true;
            }
        }

        return false;
    }

    bool RemoveIfDone(BatchQueue batch)
    {
        if (batch.NotDispatched == 0 && batch.InFlight == 0 && _byId.Remove(batch.Id))
        {
            _batches.Remove(batch);
            return true;
        }

        return false;
    }

    sealed class BatchQueue(Guid id, int concurrency, int pending)
    {
        public Guid Id { get; } = id;
        public int Concurrency { get; } = concurrency;
        public Dictionary<string, Queue<PendingSlot>> Queues { get; } = new(StringComparer.OrdinalIgnoreCase);
        public List<string> Hosts { get; } = [];
        public int HostCursor;
        /// <summary>Slots held here, waiting.</summary>
        public int Queued;
        /// <summary>Slots not yet dispatched: held here or still in the store.</summary>
        public int NotDispatched = pending;
        public int InFlight;
        public int LastLoadedIndex = -1;
        public bool Refilling;
        public bool Started;
        public bool Cancelled;

        public void Enqueue(PendingSlot slot)
        {
            var host = HostKey(slot.Url);
            if (!Queues.TryGetValue(host, out var queue))
            {
                Queues[host] = queue = new Queue<PendingSlot>();
                Hosts.Add(host);
            }

            queue.Enqueue(slot);
            Queued++;
            LastLoadedIndex = Math.Max(LastLoadedIndex, slot.Index);
        }
    }
}
