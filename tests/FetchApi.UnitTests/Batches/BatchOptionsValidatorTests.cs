using FetchApi.Batches;
using static FetchApi.UnitTests.Batches.Validation;

namespace FetchApi.UnitTests.Batches;

/// <summary>
/// Each option just inside and just outside its bound (the defaults of <see cref="BatchLimits"/>), and the request headers
/// a client may and may not send. Errors are keyed as the client wrote the field: <c>options.maxAttempts</c>.
/// </summary>
public sealed class BatchOptionsValidatorTests
{
    [Fact]
    public void NoOptionsAtAllIsValid()
    {
        Assert.Empty(Errors(new BatchOptionsRequest()));
    }

    public static TheoryData<string, BatchOptionsRequest> OptionsJustInside => new()
    {
        { "concurrency 1", new() { Concurrency = 1 } },
        { "concurrency 256", new() { Concurrency = 256 } },
        { "timeoutSeconds 0.001", new() { TimeoutSeconds = 0.001 } },
        { "timeoutSeconds 120", new() { TimeoutSeconds = 120 } },
        { "maxAttempts 1", new() { MaxAttempts = 1 } },
        { "maxAttempts 10", new() { MaxAttempts = 10 } },
        { "maxBodyBytes 0", new() { MaxBodyBytes = 0 } },
        { "maxBodyBytes 10 MiB", new() { MaxBodyBytes = 10L * 1024 * 1024 } },
        { "maxRedirects 0", new() { MaxRedirects = 0 } },
        { "maxRedirects 20", new() { MaxRedirects = 20 } },
        { "method GET", new() { Method = "GET" } },
        { "method HEAD", new() { Method = "HEAD" } },
        { "method get", new() { Method = "get" } },
        { "method head", new() { Method = "head" } },
    };

    [Theory]
    [MemberData(nameof(OptionsJustInside))]
    public void OptionAtItsBoundIsValid(string why, BatchOptionsRequest options)
    {
        var errors = Errors(options);

        Assert.True(errors.Count == 0, $"{why}: {string.Join("; ", errors.Select(e => $"{e.Key}: {e.Value[0]}"))}");
    }

    public static TheoryData<BatchOptionsRequest, string> OptionsJustOutside => new()
    {
        { new() { Concurrency = 0 }, "options.concurrency" },
        { new() { Concurrency = 257 }, "options.concurrency" },
        { new() { TimeoutSeconds = 0 }, "options.timeoutSeconds" },
        { new() { TimeoutSeconds = -1 }, "options.timeoutSeconds" },
        { new() { TimeoutSeconds = 120.001 }, "options.timeoutSeconds" },
        { new() { MaxAttempts = 0 }, "options.maxAttempts" },
        { new() { MaxAttempts = 11 }, "options.maxAttempts" },
        { new() { MaxBodyBytes = -1 }, "options.maxBodyBytes" },
        { new() { MaxBodyBytes = 10L * 1024 * 1024 + 1 }, "options.maxBodyBytes" },
        { new() { MaxRedirects = -1 }, "options.maxRedirects" },
        { new() { MaxRedirects = 21 }, "options.maxRedirects" },
        { new() { Method = "POST" }, "options.method" },
        { new() { Method = "" }, "options.method" },
        { new() { Method = " GET" }, "options.method" },
    };

    [Theory]
    [MemberData(nameof(OptionsJustOutside))]
    public void OptionJustOutsideItsBoundIsAnErrorNamingTheOption(BatchOptionsRequest options, string field)
    {
        Assert.Equal([field], Errors(options).Keys);
    }

    [Fact]
    public void BoundsFollowTheConfiguredLimits()
    {
        var limits = new BatchLimits { MaxConcurrency = 4, MaxAttemptsLimit = 2, MaxBodyBytesLimit = 100, MaxRedirectsLimit = 1 };

        Assert.Empty(Errors(new BatchOptionsRequest { Concurrency = 4, MaxAttempts = 2, MaxBodyBytes = 100, MaxRedirects = 1 }, limits));
        Assert.Equal(
            ["options.concurrency", "options.maxAttempts", "options.maxBodyBytes", "options.maxRedirects"],
            Errors(new BatchOptionsRequest { Concurrency = 5, MaxAttempts = 3, MaxBodyBytes = 101, MaxRedirects = 2 }, limits).Keys);
    }

    [Fact]
    public void TimeoutBoundFollowsTheConfiguredMaximum()
    {
        var limits = new BatchLimits { MaxTimeout = TimeSpan.FromSeconds(5) };

        Assert.Empty(Errors(new BatchOptionsRequest { TimeoutSeconds = 5 }, limits));
        Assert.Equal(["options.timeoutSeconds"], Errors(new BatchOptionsRequest { TimeoutSeconds = 5.5 }, limits).Keys);
    }

    // ---- headers ----

    static IDictionary<string, string[]> HeaderErrors(string name, string? value) =>
        Errors(new BatchOptionsRequest { Headers = new() { [name] = value } });

    [Theory]
    [InlineData("Accept", "application/json")]
    [InlineData("Authorization", "Bearer abc.def")]
    [InlineData("User-Agent", "my-crawler/1.0 (+https://example.com/bot)")]
    [InlineData("X-Api-Key", "k")]
    [InlineData("X-Trace", "a\tb")]
    [InlineData("X-Empty", "")]
    [InlineData("X-Odd_Name.~!", "v")]
    public void EndToEndHeaderIsValid(string name, string value)
    {
        Assert.Empty(HeaderErrors(name, value));
    }

    [Theory]
    [InlineData("Host")]
    [InlineData("host")]
    [InlineData("Content-Length")]
    [InlineData("Connection")]
    [InlineData("Transfer-Encoding")]
    [InlineData("Keep-Alive")]
    [InlineData("Proxy-Connection")]
    [InlineData("Proxy-Authorization")]
    [InlineData("Proxy-Authenticate")]
    [InlineData("TE")]
    [InlineData("Trailer")]
    [InlineData("Upgrade")]
    [InlineData("Expect")]
    [InlineData("Cookie")]
    [InlineData("COOKIE")]
    [InlineData("Cookie2")]
    [InlineData("Set-Cookie")]
    [InlineData("Content-Encoding")]
    public void ForbiddenHeaderIsAnErrorNamingItAsTheClientWroteIt(string name)
    {
        var errors = HeaderErrors(name, "x");

        Assert.Equal([$"options.headers.{name}"], errors.Keys);
        Assert.Contains("cannot be sent", errors[$"options.headers.{name}"][0], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Bad Name")]
    [InlineData("X:Y")]
    [InlineData("X-Ünicode")]
    [InlineData("X-A\r\nX-Injected")]
    [InlineData("(comment)")]
    public void InvalidHeaderNameIsAnError(string name)
    {
        var errors = HeaderErrors(name, "x");

        Assert.Equal(["is not a valid header name."], errors[$"options.headers.{name}"]);
    }

    [Theory]
    [InlineData("a\r\nX-Injected: 1")]
    [InlineData("a\rb")]
    [InlineData("a\nb")]
    [InlineData("a\0b")]
    [InlineData("a\u0007b")]
    [InlineData("a\u007fb")]
    [InlineData("a\u0085b")]
    public void HeaderValueWithCrLfNulOrAnotherControlCharacterIsAnError(string value)
    {
        var errors = HeaderErrors("X-Test", value);

        Assert.Equal(["options.headers.X-Test"], errors.Keys);
        Assert.Contains("control characters", errors["options.headers.X-Test"][0], StringComparison.Ordinal);
    }

    [Fact]
    public void HeaderWithNullValueIsAnError()
    {
        Assert.Equal(["must have a string value."], HeaderErrors("X-Test", null)["options.headers.X-Test"]);
    }

    [Fact]
    public void HeaderValueOf8192CharactersIsValidAndOneMoreIsNot()
    {
        Assert.Empty(HeaderErrors("X-Long", new string('v', 8192)));
        Assert.Equal(["options.headers.X-Long"], HeaderErrors("X-Long", new string('v', 8193)).Keys);
    }

    static Dictionary<string, string?> ManyHeaders(int count) =>
        Enumerable.Range(0, count).ToDictionary(i => $"X-H{i}", string? (_) => "v");

    [Fact]
    public void FiftyHeadersAreValidAndFiftyOneAreAnErrorOnHeaders()
    {
        Assert.Empty(Errors(new BatchOptionsRequest { Headers = ManyHeaders(50) }));
        Assert.Equal(["options.headers"], Errors(new BatchOptionsRequest { Headers = ManyHeaders(51) }).Keys);
    }

    [Fact]
    public void EachBadHeaderIsNamedAndTheGoodOnesAreNot()
    {
        var headers = new Dictionary<string, string?> { ["Accept"] = "*/*", ["Host"] = "evil.example", ["X-Test"] = "a\nb" };

        Assert.Equal(["options.headers.Host", "options.headers.X-Test"], Errors(new BatchOptionsRequest { Headers = headers }).Keys);
    }

    [Fact]
    public void EveryExtractFieldIsValidInAnyOrderAndRepeated()
    {
        Assert.Empty(Errors(new BatchOptionsRequest { Extract = ["text", "links", "description", "title", "title"] }));
        Assert.Empty(Errors(new BatchOptionsRequest { Extract = [] }));
    }

    [Fact]
    public void EachUnknownExtractValueIsNamedByItsIndexWithTheValuesThatExist()
    {
        var errors = Errors(new BatchOptionsRequest { Extract = ["title", "headings", null, "Title"] });

        Assert.Equal(["options.extract[1]", "options.extract[2]", "options.extract[3]"], errors.Keys);
        Assert.Equal("'headings' cannot be extracted; use title, description, links, text.", errors["options.extract[1]"][0]);
    }

    [Fact]
    public void ExtractWithHeadIsAnErrorOnExtract()
    {
        Assert.Equal(["options.extract"], Errors(new BatchOptionsRequest { Method = "head", Extract = ["title"] }).Keys);
        Assert.Empty(Errors(new BatchOptionsRequest { Method = "HEAD", Extract = [] }));
    }

    [Fact]
    public void ExtractIsResolvedToEachFieldOnceInOneOrder()
    {
        var resolved = new BatchOptionsRequest { Extract = ["text", "title", "text"] }.Resolve(new BatchLimits());

        Assert.Equal([Model.ExtractField.Title, Model.ExtractField.Text], resolved.Extract);
        Assert.Empty(new BatchOptionsRequest().Resolve(new BatchLimits()).Extract);
    }
}
