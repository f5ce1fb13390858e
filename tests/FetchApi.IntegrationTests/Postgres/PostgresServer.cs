using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace FetchApi.IntegrationTests.Postgres;

/// <summary>
/// A throwaway PostgreSQL server from Debian's <c>postgresql</c> package: a fresh cluster in
/// <c>/tmp/fetchapi-pg-&lt;guid&gt;</c>, listening on 127.0.0.1 only (and a Unix socket in that folder), trust
/// authentication, fsync off. PostgreSQL refuses to run as root, so when the tests run as root (CI) every server command
/// runs as the <c>postgres</c> OS user. Each test takes its own database with <see cref="CreateDatabaseAsync"/>.
/// </summary>
/// <remarks>
/// A killed test run cannot dispose its servers, and a PostgreSQL server outlives the process that started it. So each
/// server has a watchdog (a detached shell that stops the server and deletes its folder once the owning process is
/// gone), and every start first stops the servers of dead owners (<see cref="StopStaleServersAsync"/>), found by the
/// folder prefix and the owner file in each folder.
/// </remarks>
public sealed class PostgresServer : IAsyncDisposable
{
    /// <summary>Every server's folder name starts with this, so leftovers of a killed run can be found.</summary>
    public const string FolderPrefix = "fetchapi-pg-";

    const string DebianRoot = "/usr/lib/postgresql";
    // "<pid> <start time>" of the process the server belongs to: a pid alone may have been reused by the next run.
    const string OwnerFile = "owner";
    static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    // Stops the server and deletes its folder once the owner is gone (or a zombie); exits once the folder is gone.
    const string WatchdogScript = """
        exec </dev/null >/dev/null 2>&1
        owner=$1 folder=$2
        shift 2
        alive() { stat=$(cat "/proc/$1/stat") || return 1; rest=${stat##*) }; [ "${rest%% *}" != Z ]; }
        while [ -d "$folder" ] && alive "$owner"; do sleep 1; done
        if [ -d "$folder" ]; then "$@"; rm -rf "$folder"; fi
        """;

    readonly string _bin;
    readonly Process _watchdog;
    // Every connection string handed out, so disposing can close their pooled connections before the server goes.
    readonly List<string> _connectionStrings = [];
    int _disposed;

    PostgresServer(string bin, string folder, int port, Process watchdog)
    {
        _bin = bin;
        _watchdog = watchdog;
        Folder = folder;
        Port = port;
        ConnectionString = $"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=true";
        _connectionStrings.Add(ConnectionString);
    }

    /// <summary>The server's folder: <c>data</c> (the cluster), <c>log</c> (the server log) and its Unix socket.</summary>
    public string Folder { get; }

    /// <summary>The loopback TCP port the server listens on (127.0.0.1 only).</summary>
    public int Port { get; }

    /// <summary>The server's <c>postgres</c> database, as superuser <c>postgres</c> (trust authentication).</summary>
    public string ConnectionString { get; }

    public string LogPath => Path.Combine(Folder, "log");

    /// <summary>The server log so far, for failure messages.</summary>
    public string Log => ReadLog(Folder);

    /// <summary>The watchdog's process id, for the test that simulates losing it too.</summary>
    internal int WatchdogProcessId => _watchdog.Id;

    static bool IsRoot => Environment.UserName == "root";

    static bool OnCi => Environment.GetEnvironmentVariable("CI") == "true";

    /// <summary>
    /// The folder of PostgreSQL's programs (the newest of /usr/lib/postgresql/*/bin, else initdb's folder on PATH).
    /// Where PostgreSQL is not installed, fails the calling test under <c>CI=true</c> and skips it otherwise.
    /// </summary>
    public static string RequireInstalled()
    {
        var bin = FindBinaries();
        if (bin is null)
        {
            Assert.False(OnCi, "PostgreSQL is missing on CI; .ci/run installs postgresql.");
            Assert.Skip("PostgreSQL is not installed; install it with: apt-get install -y postgresql");
        }

        if (IsRoot)
        {
            Assert.True(File.ReadLines("/etc/passwd").Any(line => line.StartsWith("postgres:", StringComparison.Ordinal)),
                "The tests run as root, so PostgreSQL must run as the postgres OS user, which does not exist; Debian's postgresql package creates it.");
        }

        return bin;
    }

    static string? FindBinaries()
    {
        static bool HasPrograms(string directory) =>
            File.Exists(Path.Combine(directory, "initdb")) && File.Exists(Path.Combine(directory, "pg_ctl"));

        if (Directory.Exists(DebianRoot))
        {
            var newest = Directory.EnumerateDirectories(DebianRoot)
                .Select(directory => (Bin: Path.Combine(directory, "bin"),
                    Version: decimal.TryParse(Path.GetFileName(directory), NumberStyles.Number, CultureInfo.InvariantCulture, out var v) ? v : -1))
                .Where(candidate => candidate.Version >= 0 && HasPrograms(candidate.Bin))
                .OrderByDescending(candidate => candidate.Version)
                .Select(candidate => candidate.Bin)
                .FirstOrDefault();
            if (newest is not null)
            {
                return newest;
            }
        }

        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            if (HasPrograms(directory))
            {
                // Where the programs really are (PATH may hold symlinks), so pg_ctl and postgres come from one install.
                var initdb = new FileInfo(Path.Combine(directory, "initdb"));
                return Path.GetDirectoryName(initdb.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? initdb.FullName);
            }
        }

        return null;
    }

    /// <summary>Starts a new server (about 1-2 s) owned by this process; skips or fails the test if PostgreSQL is missing.</summary>
    public static Task<PostgresServer> StartAsync() => StartAsync(Environment.ProcessId);

    /// <summary>Starts a new server that stops by itself once <paramref name="ownerProcessId"/> is gone.</summary>
    internal static async Task<PostgresServer> StartAsync(int ownerProcessId)
    {
        var bin = RequireInstalled();
        await StopStaleServersAsync();

        // Under /tmp when root: the postgres user must reach it, and a Unix socket path must stay under 108 bytes.
        var folder = Path.Combine(IsRoot ? "/tmp" : Path.GetTempPath(), FolderPrefix + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        await File.WriteAllTextAsync(Path.Combine(folder, OwnerFile), $"{ownerProcessId} {StartTimeOf(ownerProcessId)}");
        var watchdog = StartWatchdog(bin, folder, ownerProcessId);
        try
        {
            if (IsRoot)
            {
                await RunOrFailAsync(folder, "chown", false, "-R", "postgres:postgres", folder);
            }

            await RunOrFailAsync(folder, Path.Combine(bin, "initdb"), true,
                "-D", Path.Combine(folder, "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions");

            var port = await StartServerAsync(bin, folder);
            var server = new PostgresServer(bin, folder, port, watchdog);
            await server.WaitUntilConnectableAsync();
            return server;
        }
        catch
        {
            KillWatchdog(watchdog);
            await StopAndDeleteAsync(bin, folder);
            throw;
        }
    }

    /// <summary>Starts the server on a free loopback port; another process may take that port first, so retries.</summary>
    static async Task<int> StartServerAsync(string bin, string folder)
    {
        for (var attempt = 1; ; attempt++)
        {
            var port = FreeLoopbackPort();
            var options = string.Join(' ',
                "-c listen_addresses=127.0.0.1",
                $"-p {port}",
                $"-c unix_socket_directories={folder}",
                "-c fsync=off",
                "-c max_connections=300");
            var (exitCode, output) = await RunAsync(folder, Path.Combine(bin, "pg_ctl"), true,
                "-D", Path.Combine(folder, "data"), "-l", Path.Combine(folder, "log"), "-o", options, "-w", "-t", "60", "start");
            if (exitCode == 0)
            {
                return port;
            }

            var log = ReadLog(folder);
            if (attempt < 5 && log.Contains("Address already in use", StringComparison.Ordinal))
            {
                continue;
            }

            Assert.Fail($"pg_ctl start failed with exit code {exitCode}:\n{output}\nServer log:\n{log}");
        }
    }

    async Task WaitUntilConnectableAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                await using var connection = new NpgsqlConnection(ConnectionString);
                await connection.OpenAsync();
                await using var command = new NpgsqlCommand("SELECT 1", connection);
                await command.ExecuteScalarAsync();
                return;
            }
            catch (NpgsqlException exception)
            {
                Assert.True(DateTime.UtcNow < deadline, $"PostgreSQL on port {Port} accepts no connection: {exception.Message}\nServer log:\n{Log}");
                await Task.Delay(50);
            }
        }
    }

    /// <summary>
    /// Creates an empty database (named <paramref name="name"/>, else a unique <c>test_&lt;guid&gt;</c>) and returns
    /// its connection string: one per test keeps tests apart while they share the server.
    /// </summary>
    public async Task<string> CreateDatabaseAsync(string? name = null)
    {
        name ??= $"test_{Guid.NewGuid():N}";
        Assert.True(name.Length is > 0 and < 64 && !name.Contains('"', StringComparison.Ordinal), $"not a usable database name: {name}");
        ObjectDisposedException.ThrowIf(_disposed != 0, this);

        await using (var connection = new NpgsqlConnection(ConnectionString))
        {
            await connection.OpenAsync();
#pragma warning disable CA2100 // The name is a quoted identifier checked above; CREATE DATABASE takes no parameters.
            await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
#pragma warning restore CA2100
            await command.ExecuteNonQueryAsync();
        }

        var connectionString = new NpgsqlConnectionStringBuilder(ConnectionString) { Database = name }.ConnectionString;
        lock (_connectionStrings)
        {
            _connectionStrings.Add(connectionString);
        }

        return connectionString;
    }

    /// <summary>Stops the server at once (<c>pg_ctl stop -m immediate</c>) and deletes its folder.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Close the idle pooled connections of this server only: other servers' pools belong to other tests.
        string[] connectionStrings;
        lock (_connectionStrings)
        {
            connectionStrings = [.. _connectionStrings];
        }

        foreach (var connectionString in connectionStrings)
        {
            await using var connection = new NpgsqlConnection(connectionString);
            NpgsqlConnection.ClearPool(connection);
        }

        KillWatchdog(_watchdog);
        _watchdog.Dispose();
        await StopAndDeleteAsync(_bin, Folder);
    }

    /// <summary>
    /// Stops and deletes the servers whose owning process is gone: what a killed test run leaves when its watchdog was
    /// lost too. Servers of live test runs, this one's and others', are left alone.
    /// </summary>
    public static async Task StopStaleServersAsync()
    {
        var bin = FindBinaries();
        foreach (var root in new[] { "/tmp", Path.GetTempPath() }.Distinct())
        {
            if (!Directory.Exists(root))
            {
                continue;
            }

            foreach (var folder in Directory.EnumerateDirectories(root, FolderPrefix + "*"))
            {
                if (bin is not null && !OwnerIsAlive(folder))
                {
                    await StopAndDeleteAsync(bin, folder);
                }
            }
        }
    }

    static bool OwnerIsAlive(string folder)
    {
        try
        {
            var owner = File.ReadAllText(Path.Combine(folder, OwnerFile)).Split(' ');
            var pid = int.Parse(owner[0], CultureInfo.InvariantCulture);
            return owner.Length == 2 && owner[1].Length > 0 && StartTimeOf(pid) == owner[1];
        }
        catch (Exception exception) when (exception is FileNotFoundException or FormatException or OverflowException)
        {
            // No owner yet: another run may be creating this folder right now, so only an old one counts as stale.
            return DateTime.UtcNow - Directory.GetCreationTimeUtc(folder) < TimeSpan.FromMinutes(1);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            // Another user's server, or gone meanwhile: not ours to stop.
            return true;
        }
    }

    /// <summary>A process's start time (field 22 of /proc/&lt;pid&gt;/stat), or "" for no such live process.</summary>
    static string StartTimeOf(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // Fields after the command name, which is in parentheses and may hold spaces: state is field 3.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return fields[0] == "Z" ? "" : fields[19];
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    static Process StartWatchdog(string bin, string folder, int ownerProcessId)
    {
        // setsid: a new session, so the Ctrl+C or process-group kill that ends the test run does not end the watchdog.
        var stop = Command(folder, Path.Combine(bin, "pg_ctl"), true, "-D", Path.Combine(folder, "data"), "-m", "immediate", "-w", "stop");
        var info = new ProcessStartInfo("setsid") { UseShellExecute = false, WorkingDirectory = "/" };
        foreach (var argument in new[] { "sh", "-c", WatchdogScript, "sh", ownerProcessId.ToString(CultureInfo.InvariantCulture), folder, stop.FileName }
            .Concat(stop.ArgumentList))
        {
            info.ArgumentList.Add(argument);
        }

        return Process.Start(info)!;
    }

    static void KillWatchdog(Process watchdog)
    {
        try
        {
            watchdog.Kill(entireProcessTree: true);
        }
        catch (Exception exception) when (exception is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // It has exited already.
        }
    }

    /// <summary>Stops the server in <paramref name="folder"/> if it runs, then deletes the folder.</summary>
    static async Task StopAndDeleteAsync(string bin, string folder)
    {
        var data = Path.Combine(folder, "data");
        var pidFile = Path.Combine(data, "postmaster.pid");
        if (File.Exists(pidFile))
        {
            await RunAsync(folder, Path.Combine(bin, "pg_ctl"), true, "-D", data, "-m", "immediate", "-w", "stop");
            // A server pg_ctl could not stop must not keep running with its folder gone.
            try
            {
                if (File.Exists(pidFile)
                    && int.TryParse((await File.ReadAllLinesAsync(pidFile)).FirstOrDefault(), CultureInfo.InvariantCulture, out var pid))
                {
                    using var postmaster = Process.GetProcessById(pid);
                    postmaster.Kill(entireProcessTree: true);
                    await postmaster.WaitForExitAsync();
                }
            }
            catch (Exception exception) when (exception is IOException or ArgumentException or InvalidOperationException
                or System.ComponentModel.Win32Exception)
            {
                // It has exited already.
            }
        }

        for (var attempt = 1; Directory.Exists(folder); attempt++)
        {
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                if (attempt == 5)
                {
                    return;
                }

                await Task.Delay(100 * attempt);
            }
        }
    }

    static string ReadLog(string folder)
    {
        try
        {
            return File.ReadAllText(Path.Combine(folder, "log"));
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return $"(no server log: {exception.Message})";
        }
    }

    static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A command, as the postgres OS user when <paramref name="asPostgres"/> and the tests run as root.</summary>
    static ProcessStartInfo Command(string folder, string file, bool asPostgres, params string[] arguments)
    {
        var info = asPostgres && IsRoot ? new ProcessStartInfo("runuser", ["-u", "postgres", "--", file, .. arguments]) : new ProcessStartInfo(file, arguments);
        // The postgres user may not enter the test's working directory; the server's folder is its own.
        info.WorkingDirectory = Directory.Exists(folder) ? folder : "/";
        info.UseShellExecute = false;
        return info;
    }

    static async Task<(int ExitCode, string Output)> RunAsync(string folder, string file, bool asPostgres, params string[] arguments)
    {
        var info = Command(folder, file, asPostgres, arguments);
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(CommandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"{file} did not finish within {CommandTimeout.TotalSeconds} s");
        }

        return (process.ExitCode, (await stdout) + (await stderr));
    }

    static async Task RunOrFailAsync(string folder, string file, bool asPostgres, params string[] arguments)
    {
        var (exitCode, output) = await RunAsync(folder, file, asPostgres, arguments);
        Assert.True(exitCode == 0, $"{file} {string.Join(' ', arguments)} failed with exit code {exitCode}:\n{output}");
    }
}
