namespace FetchApi.UnitTests.Architecture;

/// <summary>Files stay small enough to read in one sitting: split a file by role before it grows past the limit.</summary>
public sealed class SourceSizeTests
{
    const int MaxLines = 400;

    [Fact]
    public void NoSourceFileOfTheServiceIsLongerThan400Lines()
    {
        var source = Path.Combine(Repository.Root, "src", "FetchApi");
        var tooLong = Directory.EnumerateFiles(source, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(f => (File: Path.GetRelativePath(source, f), Lines: File.ReadLines(f).Count()))
            .Where(f => f.Lines > MaxLines)
            .ToList();

        Assert.True(tooLong.Count == 0, string.Join(", ", tooLong.Select(f => $"{f.File} has {f.Lines} lines")));
    }
}
