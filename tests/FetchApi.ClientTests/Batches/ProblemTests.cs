using FetchApi.Client;
using FetchApi.IntegrationTests.Upstream;

namespace FetchApi.ClientTests.Batches;

/// <summary>
/// Errors as the generated client surfaces them: an <see cref="ApiException{TResult}"/> of the one <see cref="Problem"/>
/// schema, whose typed <c>code</c> a caller switches on and whose <c>type</c> is <c>/problems/{code}</c>.
/// </summary>
public sealed class ProblemTests(GeneratedClientFixture service) : IClassFixture<GeneratedClientFixture>
{
    readonly IFetchApiClient _api = service.Api;
    readonly UpstreamServer _upstream = service.Upstream;

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static void AssertProblem(ApiException<Problem> exception, int status, ProblemCode code)
    {
        var problem = exception.Result;
        Assert.Equal((status, status, code), (exception.StatusCode, problem.Status, problem.Code));
        // The generated enum member is the wire value with its first letter upper-cased (Not_found for not_found).
        Assert.Equal($"/problems/{code.ToString().ToLowerInvariant()}", problem.Type);
        Assert.False(string.IsNullOrWhiteSpace(problem.Title), $"the problem has no title: {exception.Response}");
    }

    [Fact]
    public async Task UnknownBatchIsANotFoundProblem()
    {
        var problem = await Assert.ThrowsAsync<ApiException<Problem>>(() => _api.GetBatchAsync(Guid.NewGuid(), cancellationToken: Ct));

        AssertProblem(problem, 404, ProblemCode.Not_found);
        Assert.Null(problem.Result.Errors);
    }

    [Fact]
    public async Task UrlThatIsNotHttpIsAValidationProblemNamingTheField()
    {
        var problem = await Assert.ThrowsAsync<ApiException<Problem>>(
            () => _api.SubmitAsync([_upstream.Url("/ok?valid=1"), "ftp://127.0.0.1/file"]));

        AssertProblem(problem, 400, ProblemCode.Validation_failed);
        Assert.NotNull(problem.Result.Errors);
        Assert.Equal(["urls[1]"], problem.Result.Errors.Keys);
        Assert.All(problem.Result.Errors.Values, messages => Assert.NotEmpty(messages));
    }

    [Fact]
    public async Task PageLimitOutsideItsDocumentedBoundsIsAValidationProblemNamingLimit()
    {
        var batch = await _api.SubmitAsync([_upstream.Url("/ok?limit=1")], prefer: "wait=10");

        var problem = await Assert.ThrowsAsync<ApiException<Problem>>(() => _api.GetBatchAsync(batch.Id, limit: 0, cancellationToken: Ct));

        AssertProblem(problem, 400, ProblemCode.Validation_failed);
        Assert.Equal(["limit"], problem.Result.Errors?.Keys);
    }

    [Fact]
    public async Task CancellingACompletedBatchIsABatchCompletedConflict()
    {
        var batch = await _api.SubmitAsync([_upstream.Url("/ok?conflict=1")], prefer: "wait=10");
        Assert.Equal(BatchStatus.Completed, batch.Status);

        var problem = await Assert.ThrowsAsync<ApiException<Problem>>(() => _api.CancelBatchAsync(batch.Id, Ct));

        AssertProblem(problem, 409, ProblemCode.Batch_completed);
    }
}
