using FetchApi.Client;
using FetchApi.IntegrationTests.Upstream;

namespace FetchApi.ClientTests.Batches;

/// <summary>Errors as the generated client surfaces them: an <see cref="ApiException{TResult}"/> carrying the typed problem and its code.</summary>
public sealed class ProblemTests(GeneratedClientFixture service) : IClassFixture<GeneratedClientFixture>
{
    readonly IFetchApiClient _api = service.Api;
    readonly UpstreamServer _upstream = service.Upstream;

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static string? Code(IDictionary<string, object> problem) => problem.TryGetValue("code", out var code) ? code.ToString() : null;

    [Fact]
    public async Task UnknownBatchIsANotFoundProblem()
    {
        var problem = await Assert.ThrowsAsync<ApiException<ProblemDetails>>(() => _api.GetBatchAsync(Guid.NewGuid(), cancellationToken: Ct));

        Assert.Equal((404, 404), (problem.StatusCode, problem.Result.Status));
        Assert.Equal("not_found", Code(problem.Result.AdditionalProperties));
    }

    [Fact]
    public async Task UrlThatIsNotHttpIsAValidationProblemNamingTheField()
    {
        var problem = await Assert.ThrowsAsync<ApiException<Client.HttpValidationProblemDetails>>(
            () => _api.SubmitAsync([_upstream.Url("/ok?valid=1"), "ftp://127.0.0.1/file"]));

        Assert.Equal(400, problem.StatusCode);
        Assert.Equal("validation_failed", Code(problem.Result.AdditionalProperties));
        Assert.Equal(["urls[1]"], problem.Result.Errors!.Keys);
    }

    [Fact]
    public async Task CancellingACompletedBatchIsABatchCompletedConflict()
    {
        var batch = await _api.SubmitAsync([_upstream.Url("/ok?conflict=1")], prefer: "wait=10");
        Assert.Equal(BatchStatus.Completed, batch.Status);

        var problem = await Assert.ThrowsAsync<ApiException<ProblemDetails>>(() => _api.CancelBatchAsync(batch.Id, Ct));

        Assert.Equal(409, problem.StatusCode);
        Assert.Equal("batch_completed", Code(problem.Result.AdditionalProperties));
    }
}
