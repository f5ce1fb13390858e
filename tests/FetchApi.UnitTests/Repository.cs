namespace FetchApi.UnitTests;

/// <summary>Files of the repository that tests read (docs, the shipped appsettings.json).</summary>
static class Repository
{
    /// <summary>The repository root, from tests/FetchApi.UnitTests/bin/&lt;Configuration&gt;/net10.0/.</summary>
    public static string Root =>
        new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Parent!.Parent!.Parent!.Parent!.FullName;
}
