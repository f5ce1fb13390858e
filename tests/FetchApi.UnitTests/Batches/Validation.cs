using System.Runtime.CompilerServices;
using FetchApi.Batches;
using Microsoft.Extensions.Options;

namespace FetchApi.UnitTests.Batches;

/// <summary>The validators as the service runs them, and the problem <c>errors</c> a client would get from them.</summary>
static class Validation
{
    // The service sets this at start (BatchesExtensions); rules read it when they are built, so it must be set before any
    // validator is constructed. Without it the keys would be "Urls[3]", not the JSON field names a client sees.
    [ModuleInitializer]
    internal static void UseJsonFieldNames() => BatchesExtensions.UseJsonFieldNames();

    public const string Ok = "http://example.com/";

    /// <summary>The problem's <c>errors</c> for <paramref name="request"/>: field key to messages; empty when it is valid.</summary>
    public static IDictionary<string, string[]> Errors(CreateBatchRequest request, BatchLimits? limits = null) =>
        new CreateBatchValidator(Options.Create(limits ?? new BatchLimits())).Validate(request).ToDictionary();

    /// <summary>The errors of a one-URL request with these <paramref name="options"/>.</summary>
    public static IDictionary<string, string[]> Errors(BatchOptionsRequest options, BatchLimits? limits = null) =>
        Errors(new CreateBatchRequest { Urls = [Ok], Options = options }, limits);

    /// <summary>The errors of a one-URL request with this callback.</summary>
    public static IDictionary<string, string[]> Errors(CallbackRequest callback) =>
        Errors(new CreateBatchRequest { Urls = [Ok], Callback = callback });
}
