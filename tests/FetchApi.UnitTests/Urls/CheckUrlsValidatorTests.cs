using FetchApi.Urls;
using Microsoft.Extensions.Options;

namespace FetchApi.UnitTests.Urls;

/// <summary>Only the body shape of a check is a 400; what each URL holds is its verdict.</summary>
public sealed class CheckUrlsValidatorTests
{
    static IDictionary<string, string[]> Errors(CheckUrlsRequest request) =>
        new CheckUrlsValidator(Options.Create(new UrlLimits { MaxUrls = 3, MaxUrlLength = 32 })).Validate(request).ToDictionary();

    [Fact]
    public void MissingUrlsIsAnErrorOnUrls()
    {
        var errors = Errors(new CheckUrlsRequest { Resolve = true });

        Assert.Equal(["urls"], errors.Keys);
        Assert.Contains("'urls' is required", errors["urls"][0], StringComparison.Ordinal);
    }

    [Fact]
    public void EmptyUrlsIsAnErrorOnUrls()
    {
        Assert.Contains("at least one URL", Errors(new CheckUrlsRequest { Urls = [] })["urls"][0], StringComparison.Ordinal);
    }

    [Fact]
    public void MoreUrlsThanABatchMayHoldIsAnErrorOnUrls()
    {
        var errors = Errors(new CheckUrlsRequest { Urls = ["a", "b", "c", "d"] });

        Assert.Equal("'urls' holds 4 URLs; at most 3 are allowed per request.", Assert.Single(errors["urls"]));
    }

    [Fact]
    public void MalformedUrlsAreNotBodyErrors()
    {
        Assert.Empty(Errors(new CheckUrlsRequest { Urls = [null, "ftp://x/", "http://example.com/" + new string('a', 40)] }));
    }
}
