using System.Text.Json.Nodes;
using Xunit.Sdk;

namespace FetchApi.IntegrationTests.Contract;

/// <summary>
/// The checking of live exchanges: a response the document does not allow reaches the test that caused it. These tests
/// cause violations on purpose and take them back (<see cref="ContractViolations.TakeForCurrentTest"/>) to look at them.
/// </summary>
public sealed class RecordedExchangesTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static void AssertTaken(string expected)
    {
        var taken = ContractViolations.TakeForCurrentTest();
        Assert.True(taken.Count == 1 && taken[0].Contains(expected, StringComparison.Ordinal),
            $"expected one violation containing '{expected}', got: [{string.Join(" | ", taken)}]");
    }

    // The served document, less GetBatch's 404: the service now answers something it does not document.
    static void WithoutGetBatch404(JsonObject document) => document["paths"]!["/batches/{id}"]!["get"]!["responses"]!.AsObject().Remove("404");

    [Fact]
    public async Task AnUndocumentedRequestIsHandedToTheTestThatSentIt()
    {
        await using var factory = new FetchApiFactory();
        using var client = factory.CreateClient();

        using var response = await client.PutAsync("/batches", null, Ct);

        AssertTaken("PUT /batches → 405: PUT is not documented for /batches");
    }

    [Fact]
    public async Task AResponseTheDocumentDoesNotAllowIsAViolation()
    {
        await using var factory = new FetchApiFactory();
        factory.Exchanges.EditDocument = WithoutGetBatch404;
        using var client = factory.CreateClient();

        using var response = await client.GetAsync($"/batches/{Guid.CreateVersion7()}", Ct);

        Assert.Equal(404, (int)response.StatusCode);
        AssertTaken("status 404 is not documented for GET /batches/{id}");
    }

    [Fact]
    public async Task OutsideTheDocumentCoversOnlyRequestsThatNoOperationMatches()
    {
        await using var factory = new FetchApiFactory();
        factory.Exchanges.EditDocument = WithoutGetBatch404;
        using var client = factory.CreateClient();

        using (ContractViolations.OutsideTheDocument("checking the opt-out"))
        {
            using var unknown = await client.GetAsync("/no-such-route", Ct);
            using var documented = await client.GetAsync($"/batches/{Guid.CreateVersion7()}", Ct);
        }

        AssertTaken("GET /batches/{id}");
    }

    // Work that carries no test's context, like a fixture's own requests.
    static Task WithoutTestContext(Func<Task> work)
    {
        var ct = Ct;
        using (ExecutionContext.SuppressFlow())
        {
            return Task.Run(work, ct);
        }
    }

    [Fact]
    public async Task AViolationOutsideAnyTestGoesToTheTestDisposingTheHost()
    {
        var factory = new FetchApiFactory();
        using var client = factory.CreateClient();

        await WithoutTestContext(async () => (await client.PutAsync(new Uri("/batches", UriKind.Relative), null)).Dispose());
        Assert.Empty(ContractViolations.TakeForCurrentTest());
        await factory.DisposeAsync();

        AssertTaken("PUT /batches → 405");
    }

    [Fact]
    public async Task AViolationNoTestCanTakeFailsTheHostsDisposal()
    {
        var factory = new FetchApiFactory();
        using var client = factory.CreateClient();

        var error = await Assert.ThrowsAsync<XunitException>(() => WithoutTestContext(async () =>
        {
            (await client.PutAsync(new Uri("/batches", UriKind.Relative), null)).Dispose();
            await factory.DisposeAsync();
        }));

        Assert.Contains("PUT /batches → 405", error.Message, StringComparison.Ordinal);
        Assert.Contains("outside any running test", error.Message, StringComparison.Ordinal);
    }
}
