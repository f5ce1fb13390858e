using FetchApi.Engine;

namespace FetchApi.UnitTests.Engine;

/// <summary>
/// Host buckets belong to one live node each (rendezvous hashing): every bucket has exactly one owner, the buckets are
/// shared about evenly, a node's death moves only its own buckets and a join takes about a share from each other node.
/// </summary>
public sealed class HostOwnershipTests
{
    static readonly string[] Three = ["node-1", "node-2", "node-3"];

    static bool Has(byte[] owned, int bucket) => (owned[bucket >> 3] & (1 << (bucket & 7))) != 0;

    static int[] Owners(IReadOnlyCollection<string> nodes) =>
        [.. Enumerable.Range(0, HostOwnership.Buckets).Select(b => nodes.ToList().IndexOf(HostOwnership.OwnerOf(b, nodes)))];

    [Fact]
    public void ANodeAloneOwnsEveryBucket()
    {
        Assert.Null(HostOwnership.Owned(["node-1"], "node-1"));
        Assert.Null(HostOwnership.Owned([], "node-1"));
    }

    [Fact]
    public void EveryBucketHasExactlyOneOwnerAndTheBitSetsSayTheSameAsOwnerOf()
    {
        var owned = Three.Select(n => HostOwnership.Owned(Three, n)!).ToList();

        for (var bucket = 0; bucket < HostOwnership.Buckets; bucket++)
        {
            var holders = Enumerable.Range(0, 3).Where(k => Has(owned[k], bucket)).ToList();
            Assert.Equal([Array.IndexOf(Three, HostOwnership.OwnerOf(bucket, Three))], holders);
        }
    }

    [Fact]
    public void BucketsAreSharedAboutEvenly()
    {
        var counts = Owners(Three).GroupBy(k => k).Select(g => g.Count()).ToList();

        Assert.Equal(3, counts.Count);
        Assert.All(counts, c => Assert.InRange(c, 1024 / 3 - 60, 1024 / 3 + 60));
    }

    [Fact]
    public void ANodesDeathMovesOnlyItsOwnBucketsAndSpreadsThemOverTheSurvivors()
    {
        var before = Three.Select(n => HostOwnership.Owned(Three, n)!).ToList();
        string[] survivors = ["node-1", "node-3"];
        var after = survivors.Select(n => HostOwnership.Owned(survivors, n)!).ToList();

        var moved = new int[2];
        for (var bucket = 0; bucket < HostOwnership.Buckets; bucket++)
        {
            if (Has(before[0], bucket))
            {
                Assert.True(Has(after[0], bucket), $"bucket {bucket} left node-1, which did not die");
            }

            if (Has(before[2], bucket))
            {
                Assert.True(Has(after[1], bucket), $"bucket {bucket} left node-3, which did not die");
            }

            if (Has(before[1], bucket))
            {
                moved[Has(after[0], bucket) ? 0 : 1]++;
            }
        }

        Assert.All(moved, m => Assert.True(m > 100, $"the dead node's buckets went {moved[0]} / {moved[1]}"));
    }

    [Fact]
    public void ANodeThatJoinsTakesAboutAShareAndNothingMovesBetweenTheOthers()
    {
        string[] four = [.. Three, "node-4"];
        var before = Owners(Three);
        var after = Owners(four);

        var taken = Enumerable.Range(0, HostOwnership.Buckets).Count(b => after[b] == 3);
        Assert.All(Enumerable.Range(0, HostOwnership.Buckets).Where(b => after[b] != 3), b => Assert.Equal(before[b], after[b]));
        Assert.InRange(taken, 1024 / 4 - 60, 1024 / 4 + 60);
    }

    [Fact]
    public void OwnershipDependsOnTheNodesNotOnTheirOrderOrOnWhoAsks()
    {
        string[] shuffled = ["node-3", "node-1", "node-2"];

        Assert.Equal(HostOwnership.Owned(Three, "node-2"), HostOwnership.Owned(shuffled, "node-2"));
        Assert.Equal(Owners(Three).Select(k => Three[k]), Owners(shuffled).Select(k => shuffled[k]));
    }

    [Fact]
    public void TheAssignmentIsTheSameInEveryBuild()
    {
        // During a rolling upgrade two builds share the cluster: if they assigned buckets differently, two nodes would
        // both own (and pace) the same hosts. These owners were computed by the first build; a change to the hash or
        // to the rule must come with a plan for mixed clusters, not by accident.
        string[] expected = ["node-2", "node-1", "node-1", "node-1", "node-2", "node-3", "node-3", "node-2", "node-3", "node-1", "node-1", "node-2"];

        Assert.Equal(expected, Enumerable.Range(0, expected.Length).Select(b => HostOwnership.OwnerOf(b, Three)));
    }

    [Fact]
    public void TheBitSetHasOneBitPerBucketInGetBitOrder()
    {
        var owned = HostOwnership.Owned(Three, "node-3")!;

        Assert.Equal(HostOwnership.Buckets / 8, owned.Length);
        // Of buckets 0-7 node-3 owns 5 and 6 (above): bits 5 and 6 of byte 0, as PostgreSQL's get_bit numbers them.
        Assert.Equal(0b0110_0000, owned[0]);
    }

    [Fact]
    public void NoLiveNodeHasNoOwner() => Assert.Throws<ArgumentException>(() => HostOwnership.OwnerOf(0, []));

    [Fact]
    public void ANodeMissingFromTheLiveListStillCountsItself()
    {
        // A claim always counts its own node as alive, even when its registration is a moment behind.
        Assert.Equal(HostOwnership.Owned(Three, "node-3"), HostOwnership.Owned(["node-1", "node-2"], "node-3"));
    }
}
