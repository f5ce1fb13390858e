using System.Collections.Concurrent;
using System.Reflection;
using Xunit.Sdk;
using Xunit.v3;

[assembly: FetchApi.IntegrationTests.Contract.ResponsesFollowTheDocument]

namespace FetchApi.IntegrationTests.Contract;

/// <summary>
/// Where the violations of the OpenAPI document go: to the test whose request caused them (requests run in the sending
/// test's execution context, see <see cref="FetchApiFactory"/>), which then fails. A violation that no running test
/// can take (a fixture's own requests) stays with the factory, which fails its disposal with it.
/// </summary>
public static class ContractViolations
{
    static readonly ConcurrentDictionary<string, ConcurrentQueue<string>> ByTest = new();
    static readonly ConcurrentDictionary<string, bool> Finished = new();
    static readonly AsyncLocal<string?> Outside = new();

    /// <summary>
    /// Requests sent until the result is disposed are deliberately outside the document (an unknown route, a method that
    /// no operation has): they are not reported for being undocumented. It covers nothing else: a request that does
    /// match a documented operation is checked as usual.
    /// </summary>
    public static IDisposable OutsideTheDocument(string why)
    {
        var previous = Outside.Value;
        Outside.Value = why;
        return new Restore(() => Outside.Value = previous);
    }

    /// <summary>Why the request being handled is outside the document, when its test said so.</summary>
    public static string? OutsideReason => Outside.Value;

    /// <summary>Hands <paramref name="violation"/> to the running test; false when no test is running or it already ended.</summary>
    public static bool TryBlameCurrentTest(string violation)
    {
        if (TestContext.Current.Test?.UniqueID is not { } id || Finished.ContainsKey(id))
        {
            return false;
        }

        ByTest.GetOrAdd(id, _ => new()).Enqueue(violation);
        return true;
    }

    /// <summary>
    /// Takes the violations the running test caused so far, so that they do not fail it: for tests of the checking
    /// itself, which cause violations on purpose.
    /// </summary>
    public static IReadOnlyList<string> TakeForCurrentTest() =>
        TestContext.Current.Test?.UniqueID is { } id && ByTest.TryRemove(id, out var queue) ? [.. queue] : [];

    /// <summary>Ends the test's collection and returns what it caused.</summary>
    public static IReadOnlyList<string> Finish(string testId)
    {
        Finished[testId] = true;
        return ByTest.TryRemove(testId, out var queue) ? [.. queue] : [];
    }

    /// <summary>One line per violation, repeats counted.</summary>
    public static string Describe(IReadOnlyCollection<string> violations) =>
        $"{violations.Count} response(s) broke the OpenAPI document:" + string.Concat(violations.GroupBy(v => v)
            .Select(g => $"{Environment.NewLine}  {g.Key}{(g.Count() > 1 ? $" (×{g.Count()})" : "")}"));

    sealed class Restore(Action restore) : IDisposable
    {
        public void Dispose() => restore();
    }
}

/// <summary>Fails every test whose requests got a response the OpenAPI document does not allow, naming each one.</summary>
[AttributeUsage(AttributeTargets.Assembly)]
public sealed class ResponsesFollowTheDocumentAttribute : BeforeAfterTestAttribute
{
    public override void After(MethodInfo methodUnderTest, IXunitTest test)
    {
        var violations = ContractViolations.Finish(test.UniqueID);
        if (violations.Count > 0)
        {
            throw new XunitException(ContractViolations.Describe(violations));
        }
    }
}
