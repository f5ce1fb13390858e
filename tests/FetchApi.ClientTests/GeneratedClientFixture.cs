using FetchApi.Client;
using FetchApi.IntegrationTests;

namespace FetchApi.ClientTests;

/// <summary>
/// The service in-process (its test settings: own SQLite file, only loopback reachable) with a loopback upstream, and the
/// client generated from docs/openapi.json talking to it through the test server's <see cref="HttpClient"/>, as a user's
/// service would through its own.
/// </summary>
public sealed class GeneratedClientFixture() : ServiceWithUpstream
{
    FetchApiClient? _api;

    /// <summary>The generated client, unmodified; its <c>BaseUrl</c> is the test server's address instead of the document's.</summary>
    public IFetchApiClient Api => _api ??= new FetchApiClient(Client) { BaseUrl = Client.BaseAddress!.AbsoluteUri };
}
