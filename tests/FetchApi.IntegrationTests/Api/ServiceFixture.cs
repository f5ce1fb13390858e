// Not FetchApi.IntegrationTests.Api: that name is taken by the Api helper class.
namespace FetchApi.IntegrationTests.ApiTests;

/// <summary>The service with its default settings, shared by tests that only read (documents, health, routing).</summary>
public sealed class ServiceFixture() : ServiceWithUpstream;
