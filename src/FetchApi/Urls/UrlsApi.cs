using FetchApi.Http;
using FetchApi.Security;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FetchApi.Urls;

public static class UrlsApi
{
    // Shown in Swagger UI. One URL of each kind: allowed, duplicate after normalisation, refused address, attacker
    // spelling of loopback, wrong scheme, IDN. The tests read this example but never submit it (network rule).
    const string CheckExample = """
        {
          "urls": [
            "https://example.com/a/../b?q=1",
            "HTTPS://EXAMPLE.COM:443/b?q=1#top",
            "http://169.254.169.254/latest/meta-data/",
            "http://0x7f000001:8080/",
            "ftp://example.com/file.txt",
            "https://bücher.example/"
          ],
          "resolve": false
        }
        """;

    public static RouteGroupBuilder MapUrls(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/urls").WithTags("Urls")
            .RequireAuthorization(ApiKeyExtensions.Policy)
            .RequireRateLimiting(RatePolicies.Check)
            .ProducesProblems(StatusCodes.Status401Unauthorized, StatusCodes.Status429TooManyRequests);

        group.MapPost("/check", CheckUrls).WithName("CheckUrls").WithPostTimeout()
            .WithSummary("Check URLs without fetching them: one verdict per URL, in input order")
            .WithDescription("Takes the `urls` of a batch (same limits) and says, for each, what submitting it would do: " +
                             "`allowed`, `blocked` (the outbound address policy refuses an address it stands for; `reason` names " +
                             "the address and the range) or `invalid` (`reason` names the rule; the batch would be a 400). " +
                             "`normalized` is the URL as the engine requests it: scheme and host lower-cased, IDN as punycode, IPv4 " +
                             "spellings as dotted decimal, default port dropped, dot segments removed, fragment dropped. " +
                             "`duplicateOf` is the index of the first URL with the same normalized form. Literal addresses and " +
                             "`localhost` are judged without DNS; other names only with `resolve: true`, which asks DNS and judges " +
                             "every address. Nothing is connected to, fetched or stored. A malformed body (no `urls`, too many, not " +
                             "JSON) is a 400 naming the field; a malformed URL is an `invalid` verdict.")
            .AddEndpointFilter<ValidationFilter<CheckUrlsRequest>>()
            .Accepts<CheckUrlsRequest>("application/json")
            .WithMetadata(new RequestExample(CheckExample))
            .Produces<UrlCheckReport>()
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType);

        return group;
    }

    /// <param name="request">The URLs, and whether to resolve names.</param>
    /// <param name="checks">Injected.</param>
    /// <param name="cancellationToken">Injected.</param>
    static async Task<Ok<UrlCheckReport>> CheckUrls(CheckUrlsRequest request, UrlCheckService checks, CancellationToken cancellationToken) =>
        TypedResults.Ok(await checks.CheckAsync(request.Urls!, request.Resolve == true, cancellationToken));
}
