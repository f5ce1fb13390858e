using System.Text;

namespace FetchApi.Engine;

/// <summary>
/// Which node owns which hosts in a cluster: hosts fall into <see cref="Buckets"/> buckets by a hash of their key (the
/// store computes it), and each bucket belongs to the live node that scores highest for it (rendezvous hashing). Only a
/// bucket's owner claims its hosts' slots, so a host's request rate, robots.txt, Crawl-delay, slow-down and holds are
/// kept by one node and hold exactly, with no round trip per request. When a node dies only its buckets move, spread
/// over the others; when one joins it takes about a share of each other node's. Pure: no I/O, no clock.
/// </summary>
public static class HostOwnership
{
    /// <summary>How many buckets hosts fall into (a power of two: the store masks its hash).</summary>
    public const int Buckets = 1024;

    /// <summary>
    /// The buckets <paramref name="me"/> owns among <paramref name="liveNodes"/> (node ids), as a bit set: bit <c>b</c> is
    /// bit <c>b % 8</c> of byte <c>b / 8</c>, PostgreSQL's <c>get_bit</c> order. Null when this node owns every bucket.
    /// </summary>
    public static byte[]? Owned(IReadOnlyCollection<string> liveNodes, string me)
    {
        var nodes = liveNodes.Contains(me, StringComparer.Ordinal) ? liveNodes : [.. liveNodes, me];
        if (nodes.Count == 1)
        {
            return null;
        }

        var seeds = nodes.Distinct(StringComparer.Ordinal).Select(n => (Node: n, Seed: Fnv(n))).ToList();
        var owned = new byte[Buckets / 8];
        for (var bucket = 0; bucket < Buckets; bucket++)
        {
            if (Owner(seeds, bucket) == me)
            {
                owned[bucket >> 3] |= (byte)(1 << (bucket & 7));
            }
        }

        return owned;
    }

    /// <summary>The node that owns <paramref name="bucket"/> among <paramref name="liveNodes"/>.</summary>
    public static string OwnerOf(int bucket, IReadOnlyCollection<string> liveNodes) =>
        liveNodes.Count == 0
            ? throw new ArgumentException("no live node", nameof(liveNodes))
            : Owner([.. liveNodes.Select(n => (n, Fnv(n)))], bucket);

    /// <summary>The highest score wins; a tie (never seen) goes to the first name in ordinal order.</summary>
    static string Owner(List<(string Node, ulong Seed)> seeds, int bucket)
    {
        var (best, bestScore) = (seeds[0].Node, Score(seeds[0].Seed, bucket));
        foreach (var (node, seed) in seeds.Skip(1))
        {
            var score = Score(seed, bucket);
            if (score > bestScore || (score == bestScore && string.CompareOrdinal(node, best) < 0))
            {
                (best, bestScore) = (node, score);
            }
        }

        return best;
    }

    /// <summary>A node's score for a bucket: its name's hash mixed with the bucket (splitmix64's finalizer).</summary>
    static ulong Score(ulong seed, int bucket)
    {
        var z = seed ^ ((ulong)bucket * 0x9E3779B97F4A7C15UL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>FNV-1a over the UTF-8 bytes: stable across processes and versions, unlike string.GetHashCode.</summary>
    static ulong Fnv(string text)
    {
        var hash = 0xCBF29CE484222325UL;
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            hash = (hash ^ b) * 0x100000001B3UL;
        }

        return hash;
    }
}
