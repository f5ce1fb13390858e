using System.Net.Http.Headers;
using FetchApi.Engine;

namespace FetchApi.UnitTests.Engine;

/// <summary>How long an upstream's <c>Retry-After</c> asks us to wait, at a fixed "now".</summary>
public sealed class RetryAfterTests
{
    static readonly DateTimeOffset Now = new(2026, 10, 21, 7, 26, 0, TimeSpan.Zero);

    [Fact]
    public void SecondsAreTheDelay()
    {
        Assert.Equal(TimeSpan.FromSeconds(120), RetryAfter.Delay(new RetryConditionHeaderValue(TimeSpan.FromSeconds(120)), Now));
    }

    [Fact]
    public void ZeroSecondsMeansRetryNow()
    {
        Assert.Equal(TimeSpan.Zero, RetryAfter.Delay(new RetryConditionHeaderValue(TimeSpan.Zero), Now));
    }

    [Fact]
    public void DateInTheFutureIsTheTimeUntilIt()
    {
        var header = new RetryConditionHeaderValue(Now.AddMinutes(2));

        Assert.Equal(TimeSpan.FromMinutes(2), RetryAfter.Delay(header, Now));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(86_400)]
    public void DateNowOrInThePastMeansRetryNowNotANegativeWait(int secondsAgo)
    {
        var header = new RetryConditionHeaderValue(Now.AddSeconds(-secondsAgo));

        Assert.Equal(TimeSpan.Zero, RetryAfter.Delay(header, Now));
    }

    [Fact]
    public void NoHeaderMeansNoDelayIsAskedFor()
    {
        Assert.Null(RetryAfter.Delay(null, Now));
    }

    [Theory]
    [InlineData("120", 120)]
    [InlineData("0", 0)]
    [InlineData("Wed, 21 Oct 2026 07:28:00 GMT", 120)]
    [InlineData("Wed, 21 Oct 2026 07:26:30 GMT", 30)]
    [InlineData("Wed, 21 Oct 2026 07:00:00 GMT", 0)]
    public void HeaderAsAnUpstreamSendsItIsReadAsThatManySeconds(string value, int seconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(seconds), RetryAfter.Delay(RetryConditionHeaderValue.Parse(value), Now));
    }

    [Fact]
    public void HeaderOnARealResponseIsRead()
    {
        using var response = new HttpResponseMessage(System.Net.HttpStatusCode.TooManyRequests);
        response.Headers.TryAddWithoutValidation("Retry-After", "Wed, 21 Oct 2026 07:27:00 GMT");

        Assert.Equal(TimeSpan.FromMinutes(1), RetryAfter.Delay(response.Headers.RetryAfter, Now));
    }
}
