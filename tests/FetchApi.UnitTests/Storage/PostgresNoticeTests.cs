using System.Text;
using FetchApi.Storage;

namespace FetchApi.UnitTests.Storage;

/// <summary>Notices between nodes carry every batch a write touched, in payloads NOTIFY accepts (under 8,000 bytes).</summary>
public sealed class PostgresNoticeTests
{
    [Theory]
    [InlineData(0, 1)]
    [InlineData(1, 1)]
    [InlineData(200, 1)]
    [InlineData(201, 2)]
    [InlineData(1000, 5)]
    public void EveryIdIsCarriedOnceInPayloadsUnderNotifysLimit(int count, int payloads)
    {
        var ids = Enumerable.Range(0, count).Select(_ => Guid.NewGuid()).ToList();

        var sent = PostgresNotice.Payloads(NoticeKind.Changed, ids);
        var read = sent.Select(PostgresNotice.Parse).ToList();

        Assert.Equal(payloads, sent.Length);
        Assert.All(sent, p => Assert.True(Encoding.UTF8.GetByteCount(p) < 8000, $"{Encoding.UTF8.GetByteCount(p)} bytes"));
        Assert.All(read, r => Assert.Equal(NoticeKind.Changed, r.Kind));
        Assert.Equal(ids, read.SelectMany(r => r.Ids));
    }

    [Theory]
    [InlineData(NoticeKind.New)]
    [InlineData(NoticeKind.Changed)]
    [InlineData(NoticeKind.Ended)]
    [InlineData(NoticeKind.Cancel)]
    public void EachKindReadsBackAsItself(NoticeKind kind)
    {
        var id = Guid.NewGuid();

        var (read, ids) = PostgresNotice.Parse(Assert.Single(PostgresNotice.Payloads(kind, [id])));

        Assert.Equal((kind, id), (read, Assert.Single(ids)));
    }

    [Fact]
    public void AnUnknownKindOrAMalformedIdIsReadAsAChangeOfTheIdsThatParse()
    {
        var id = Guid.NewGuid();

        var (kind, ids) = PostgresNotice.Parse($"later:{id},not-a-guid");

        Assert.Equal((NoticeKind.Changed, id), (kind, Assert.Single(ids)));
    }
}
