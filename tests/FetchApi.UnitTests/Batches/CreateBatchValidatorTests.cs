using FetchApi.Batches;
using static FetchApi.UnitTests.Batches.Validation;

namespace FetchApi.UnitTests.Batches;

/// <summary>The URL list and the callback of <c>POST /batches</c>: which field each error names.</summary>
public sealed class CreateBatchValidatorTests
{
    static readonly BatchLimits ThreeUrls = new() { MaxUrlsPerBatch = 3, MaxUrlLength = 32 };

    [Fact]
    public void RequestWithOneUrlAndNothingElseIsValid()
    {
        Assert.Empty(Errors(new CreateBatchRequest { Urls = [Ok] }));
    }

    [Fact]
    public void MissingUrlsIsAnErrorOnUrls()
    {
        var errors = Errors(new CreateBatchRequest());

        Assert.Equal(["urls"], errors.Keys);
        Assert.Contains("'urls' is required", errors["urls"][0], StringComparison.Ordinal);
    }

    [Fact]
    public void EmptyUrlListIsAnErrorOnUrls()
    {
        var errors = Errors(new CreateBatchRequest { Urls = [] });

        Assert.Equal(["urls"], errors.Keys);
        Assert.Contains("at least one URL", errors["urls"][0], StringComparison.Ordinal);
    }

    [Fact]
    public void ExactlyTheMaximumNumberOfUrlsIsValid()
    {
        Assert.Empty(Errors(new CreateBatchRequest { Urls = [Ok, Ok, Ok] }, ThreeUrls));
    }

    [Fact]
    public void OneUrlOverTheMaximumIsOneErrorOnUrlsGivingBothCounts()
    {
        var errors = Errors(new CreateBatchRequest { Urls = [Ok, Ok, Ok, Ok] }, ThreeUrls);

        Assert.Equal(["urls"], errors.Keys);
        Assert.Equal("'urls' holds 4 URLs; at most 3 are allowed per batch.", errors["urls"][0]);
    }

    [Fact]
    public void TooManyUrlsIsNotAlsoReportedUrlByUrl()
    {
        // A client over the limit learns that first, not thousands of per-URL errors.
        var errors = Errors(new CreateBatchRequest { Urls = ["ftp://a/", null, "x", "y"] }, ThreeUrls);

        Assert.Equal(["urls"], errors.Keys);
    }

    [Fact]
    public void EachBadUrlIsNamedByItsIndexAndTheGoodOnesAreNot()
    {
        var errors = Errors(new CreateBatchRequest { Urls = ["ftp://example.com/", Ok, "http://u:p@example.com/"] });

        Assert.Equal(["urls[0]", "urls[2]"], errors.Keys);
        Assert.Contains("'ftp'", errors["urls[0]"][0], StringComparison.Ordinal);
        Assert.Contains("user-info", errors["urls[2]"][0], StringComparison.Ordinal);
    }

    [Fact]
    public void NullInsideTheUrlListIsNamedByItsIndex()
    {
        var errors = Errors(new CreateBatchRequest { Urls = [Ok, null] });

        Assert.Equal(["urls[1]"], errors.Keys);
    }

    [Fact]
    public void UrlLengthIsCheckedAgainstTheConfiguredMaximum()
    {
        var tooLong = Ok + new string('a', 32 - Ok.Length + 1);

        var errors = Errors(new CreateBatchRequest { Urls = [Ok, tooLong] }, ThreeUrls);

        Assert.Equal(["urls[1]"], errors.Keys);
        Assert.Contains("at most 32", errors["urls[1]"][0], StringComparison.Ordinal);
    }

    [Fact]
    public void DuplicateUrlsAreValid()
    {
        Assert.Empty(Errors(new CreateBatchRequest { Urls = [Ok, Ok] }));
    }

    // ---- callback ----

    static readonly string Secret16 = new('s', 16);

    [Fact]
    public void CallbackWithAnHttpsUrlAndA16CharacterSecretIsValid()
    {
        Assert.Empty(Errors(new CallbackRequest { Url = "https://hooks.example.com/done", Secret = Secret16 }));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("ftp://hooks.example.com/")]
    [InlineData("http://user:pass@hooks.example.com/")]
    [InlineData("/relative")]
    [InlineData("http://hooks.example.com/\r\n")]
    public void UnfetchableCallbackUrlIsAnErrorOnCallbackUrl(string? url)
    {
        var errors = Errors(new CallbackRequest { Url = url, Secret = Secret16 });

        Assert.Equal(["callback.url"], errors.Keys);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(15)]
    [InlineData(257)]
    public void CallbackSecretOutside16To256CharactersIsAnErrorOnCallbackSecret(int length)
    {
        var errors = Errors(new CallbackRequest { Url = Ok, Secret = new string('s', length) });

        Assert.Equal(["callback.secret"], errors.Keys);
    }

    [Theory]
    [InlineData(16)]
    [InlineData(256)]
    public void CallbackSecretOf16To256CharactersIsValid(int length)
    {
        Assert.Empty(Errors(new CallbackRequest { Url = Ok, Secret = new string('s', length) }));
    }

    [Fact]
    public void MissingCallbackSecretIsAnErrorSayingItIsRequired()
    {
        var errors = Errors(new CallbackRequest { Url = Ok });

        Assert.Equal(["callback.secret"], errors.Keys);
        Assert.Contains("is required", errors["callback.secret"][0], StringComparison.Ordinal);
    }

    [Fact]
    public void ErrorsInUrlsOptionsAndCallbackAreAllReportedAtOnce()
    {
        var errors = Errors(new CreateBatchRequest
        {
            Urls = [Ok, "ftp://example.com/"],
            Options = new BatchOptionsRequest { MaxAttempts = 0 },
            Callback = new CallbackRequest { Url = "ftp://hooks.example.com/", Secret = "short" },
        });

        Assert.Equal(["urls[1]", "options.maxAttempts", "callback.url", "callback.secret"], errors.Keys);
    }
}
