using ArchUnitNET.Fluent.Slices;
using ArchUnitNET.Fluent.Syntax.Elements.Types;
using ArchUnitNET.Loader;
using ArchUnitNET.xUnitV3;
using static ArchUnitNET.Fluent.ArchRuleDefinition;

namespace FetchApi.UnitTests.Architecture;

/// <summary>
/// The folders of src/FetchApi (one namespace each) depend on each other in one direction only. Model and Http are
/// plumbing: they import no feature. Only Storage implements the roles that Batches, Engine and Callbacks declare, and
/// only Hosting (and Program) may reach Storage. Urls (URL rules, normalisation, the check endpoint) sits below Batches:
/// Batches uses its rules and hands it its limits, never the other way round.
/// </summary>
public sealed class LayeringTests
{
    static readonly ArchUnitNET.Domain.Architecture Service = new ArchLoader().LoadAssemblies(typeof(Program).Assembly).Build();

    static readonly string[] Features =
        ["FetchApi.Batches", "FetchApi.Callbacks", "FetchApi.Engine", "FetchApi.Hosting", "FetchApi.Security", "FetchApi.Storage", "FetchApi.Urls"];

    [Fact]
    public void FoldersHaveNoDependencyCycle() =>
        SliceRuleDefinition.Slices().Matching("FetchApi.(*)").Should().BeFreeOfCycles().Check(Service);

    [Theory]
    [InlineData("FetchApi.Model")]
    [InlineData("FetchApi.Http")]
    [InlineData("FetchApi.Telemetry")]
    public void PlumbingImportsNoFeature(string plumbing) =>
        Types().That().ResideInNamespace(plumbing).Should().NotDependOnAny(AnyOf(Features)).Check(Service);

    static GivenTypesConjunction AnyOf(string[] namespaces)
    {
        var types = Types().That().ResideInNamespace(namespaces[0]);
        foreach (var name in namespaces.Skip(1))
        {
            types = types.Or().ResideInNamespace(name);
        }

        return types;
    }

    [Theory]
    [InlineData("FetchApi.Batches")]
    [InlineData("FetchApi.Engine")]
    [InlineData("FetchApi.Callbacks")]
    [InlineData("FetchApi.Security")]
    [InlineData("FetchApi.Urls")]
    public void OnlyHostingReachesTheStore(string feature) =>
        Types().That().ResideInNamespace(feature).Should().NotDependOnAny(Types().That().ResideInNamespace("FetchApi.Storage")).Check(Service);

    [Theory]
    [InlineData("FetchApi.Engine")]
    [InlineData("FetchApi.Callbacks")]
    [InlineData("FetchApi.Security")]
    [InlineData("FetchApi.Hosting")]
    [InlineData("FetchApi.Urls")]
    public void NothingButStorageCallsBatches(string feature) =>
        Types().That().ResideInNamespace(feature).Should().NotDependOnAny(Types().That().ResideInNamespace("FetchApi.Batches")).Check(Service);
}
