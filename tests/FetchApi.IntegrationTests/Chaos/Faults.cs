using System.Diagnostics;

namespace FetchApi.IntegrationTests.Chaos;

/// <summary>
/// Faults an operator (or the machine) causes to the store's file system, made real: a file the process may not write,
/// a small disk that fills up. Where this machine cannot make one (no root, no mount), the test is skipped with the
/// reason; where it can, the test runs, under CI as anywhere.
/// </summary>
public static class Faults
{
    static bool IsRoot => Environment.UserName == "root";

    /// <summary>Runs a command; returns its exit code and what it printed.</summary>
    public static async Task<(int Code, string Output)> RunAsync(string file, params string[] arguments)
    {
        var info = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        try
        {
            using var process = Process.Start(info)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            return (process.ExitCode, (await output + await error).Trim());
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, $"{file}: {e.Message}");
        }
    }

    /// <summary>
    /// Makes <paramref name="file"/> impossible to open for writing by the service, as <c>chmod a-w</c> does for a
    /// service that is not root: as root (which ignores modes) the immutable attribute does it.
    /// </summary>
    public static async Task<IAsyncDisposable> ReadOnlyAsync(string file)
    {
        if (!IsRoot)
        {
            Assert.Equal(0, (await RunAsync("chmod", "a-w", file)).Code);
            return new Undo(async () => await RunAsync("chmod", "u+w", file));
        }

        var (code, output) = await RunAsync("chattr", "+i", file);
        if (code != 0)
        {
            Assert.Skip($"cannot make {file} read-only for root here (chattr +i: {output})");
        }

        return new Undo(async () => await RunAsync("chattr", "-i", file));
    }

    /// <summary>Mounts a tmpfs of <paramref name="bytes"/> at a new folder; skips the test where mounting is not allowed.</summary>
    public static async Task<SmallDisk> SmallDiskAsync(long bytes)
    {
        var directory = Directory.CreateTempSubdirectory("fetchapi-disk-").FullName;
        var (code, output) = await RunAsync("mount", "-t", "tmpfs", "-o", $"size={bytes}", "tmpfs", directory);
        if (code != 0)
        {
            Directory.Delete(directory);
            Assert.Skip($"cannot mount a small tmpfs here to fill a disk (mount: {output})");
        }

        return new SmallDisk(directory);
    }

    public sealed class SmallDisk(string directory) : IAsyncDisposable
    {
        public string Directory { get; } = directory;

        /// <summary>Writes a file of zeros until the disk has no room left.</summary>
        public async Task FillAsync(string name)
        {
            await using var filler = new FileStream(Path.Combine(Directory, name), FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
            var block = new byte[64 * 1024];
            try
            {
                while (true)
                {
                    await filler.WriteAsync(block);
                }
            }
            catch (IOException)
            {
                // No space left on device: full.
            }
        }

        /// <summary>Remounts the disk read-only, as a file system that went read-only does; disposing makes it writable again.</summary>
        public async Task<IAsyncDisposable> ReadOnlyAsync()
        {
            var (code, output) = await RunAsync("mount", "-o", "remount,ro", Directory);
            Assert.True(code == 0, $"remount read-only: {output}");
            return new Undo(async () => await RunAsync("mount", "-o", "remount,rw", Directory));
        }

        public async ValueTask DisposeAsync()
        {
            await RunAsync("umount", "-l", Directory);
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }

    sealed class Undo(Func<Task> undo) : IAsyncDisposable
    {
        int _done;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                await undo();
            }
        }
    }
}
