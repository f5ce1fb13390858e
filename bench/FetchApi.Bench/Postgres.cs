using System.Diagnostics;
using System.Globalization;
using Npgsql;
using NpgsqlTypes;

namespace FetchApi.Bench;

/// <summary>What the service did in its database over one measured run (PostgreSQL only).</summary>
sealed record DatabaseUse(long Transactions, long? Statements, IReadOnlyList<(long Calls, string Query)> TopStatements)
{
    public double TransactionsPer(int urls) => (double)Transactions / urls;

    public double? StatementsPer(int urls) => Statements / (double)urls;

    public string Describe(int urls) =>
        $"{Transactions} transactions ({TransactionsPer(urls):0.###}/URL), " +
        (Statements is { } s ? $"{s} statements ({StatementsPer(urls):0.###}/URL)" : "statements not counted (no pg_stat_statements)");
}

/// <summary>
/// A throwaway PostgreSQL server for the pg-* scenarios: <c>initdb</c> in <c>/tmp/fetchapi-bench-pg-&lt;guid&gt;</c>,
/// listening on 127.0.0.1 only (and a Unix socket in that folder), trust authentication, fsync left on (the comparison
/// with SQLite's <c>synchronous=FULL</c> is durability-fair), <c>pg_stat_statements</c> preloaded when it is installed.
/// PostgreSQL refuses to run as root, so when the bench runs as root every server command runs as the <c>postgres</c>
/// OS user. A watchdog stops the server and deletes its folder if the bench dies without disposing it.
/// </summary>
sealed class PostgresServer : IAsyncDisposable
{
    const string DebianRoot = "/usr/lib/postgresql";
    const string FolderPrefix = "fetchapi-bench-pg-";
    const string StatementsExtension = "pg_stat_statements";

    /// <summary>
    /// An idle backend sends its pending statistics (<c>pg_stat_database</c>) at most 10 s after its last transaction
    /// (PGSTAT_IDLE_INTERVAL): transactions are counted that long after a run.
    /// </summary>
    public static readonly TimeSpan StatisticsSettle = TimeSpan.FromSeconds(11);

    // Stops the server and deletes its folder once the bench is gone; exits once the folder is gone.
    const string WatchdogScript = """
        exec </dev/null >/dev/null 2>&1
        owner=$1 folder=$2
        shift 2
        while [ -d "$folder" ] && kill -0 "$owner" 2>/dev/null; do sleep 1; done
        if [ -d "$folder" ]; then "$@"; rm -rf "$folder"; fi
        """;

    readonly string _bin;
    readonly Process _watchdog;
    readonly NpgsqlDataSource _admin;
    readonly List<string> _connectionStrings = [];

    PostgresServer(string bin, string folder, int port, bool hasStatements, Process watchdog)
    {
        _bin = bin;
        _watchdog = watchdog;
        Folder = folder;
        Port = port;
        HasStatements = hasStatements;
        // The bench's own queries run in the postgres database: counts filtered by database never include them.
        _admin = NpgsqlDataSource.Create(ConnectionString("postgres") + ";Application Name=fetchapi-bench");
    }

    public string Folder { get; }

    public int Port { get; }

    /// <summary>Whether <c>pg_stat_statements</c> is loaded, so statements can be counted.</summary>
    public bool HasStatements { get; }

    public string Log => ReadLog(Folder);

    static bool IsRoot => Environment.UserName == "root";

    /// <summary>The newest /usr/lib/postgresql/*/bin with initdb and pg_ctl, or null.</summary>
    public static string? FindBinaries()
    {
        if (!Directory.Exists(DebianRoot))
        {
            return null;
        }

        return Directory.EnumerateDirectories(DebianRoot)
            .Select(dir => (Bin: Path.Combine(dir, "bin"), Lib: Path.Combine(dir, "lib"),
                Version: decimal.TryParse(Path.GetFileName(dir), NumberStyles.Number, CultureInfo.InvariantCulture, out var v) ? v : -1))
            .Where(c => c.Version >= 0 && File.Exists(Path.Combine(c.Bin, "initdb")) && File.Exists(Path.Combine(c.Bin, "pg_ctl")))
            .OrderByDescending(c => c.Version)
            .Select(c => c.Bin)
            .FirstOrDefault();
    }

    public string ConnectionString(string database) => $"Host=127.0.0.1;Port={Port};Username=postgres;Database={database}";

    /// <summary>initdb, pg_ctl start on a free loopback port (about 2-4 s), and pg_stat_statements when installed.</summary>
    public static async Task<PostgresServer> StartAsync()
    {
        var bin = FindBinaries() ?? throw new BenchException("PostgreSQL is not installed (apt-get install -y postgresql)");
        var folder = Path.Combine("/tmp", FolderPrefix + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        var watchdog = StartWatchdog(bin, folder);
        try
        {
            if (IsRoot)
            {
                await RunOrThrowAsync(folder, "chown", false, "-R", "postgres:postgres", folder);
            }

            var started = Stopwatch.GetTimestamp();
            await RunOrThrowAsync(folder, Path.Combine(bin, "initdb"), true,
                "-D", Path.Combine(folder, "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions");
            var library = Path.Combine(Path.GetDirectoryName(bin)!, "lib", "pg_stat_statements.so");
            var hasStatements = File.Exists(library);
            var port = await StartServerAsync(bin, folder, hasStatements);
            var server = new PostgresServer(bin, folder, port, hasStatements, watchdog);
            await server.WaitUntilConnectableAsync();
            if (hasStatements)
            {
                await server.AdminAsync($"CREATE EXTENSION IF NOT EXISTS {StatementsExtension}");
            }

            var version = await server.AdminScalarAsync<string>("SHOW server_version");
            Console.WriteLine($"PostgreSQL {version} on 127.0.0.1:{port} (fsync on, max_connections 300, " +
                $"{(hasStatements ? "pg_stat_statements loaded" : "no pg_stat_statements: statements are not counted")}), " +
                $"started in {Stopwatch.GetElapsedTime(started).TotalSeconds:F1} s, folder {folder}");
            return server;
        }
        catch
        {
            KillWatchdog(watchdog);
            await StopAndDeleteAsync(bin, folder);
            throw;
        }
    }

    static async Task<int> StartServerAsync(string bin, string folder, bool hasStatements)
    {
        for (var attempt = 1; ; attempt++)
        {
            var port = Service.FreePort();
            var options = string.Join(' ', new[]
            {
                "-c listen_addresses=127.0.0.1",
                $"-p {port.ToString(CultureInfo.InvariantCulture)}",
                $"-c unix_socket_directories={folder}",
                "-c max_connections=300",
                hasStatements ? $"-c shared_preload_libraries={StatementsExtension}" : "",
            }.Where(o => o.Length > 0));
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

            throw new BenchException($"pg_ctl start failed ({exitCode}):\n{output}\nserver log:\n{log}");
        }
    }

    async Task WaitUntilConnectableAsync()
    {
        var deadline = Stopwatch.GetTimestamp() + 30 * Stopwatch.Frequency;
        while (true)
        {
            try
            {
                await AdminScalarAsync<int>("SELECT 1");
                return;
            }
            catch (NpgsqlException e)
            {
                if (Stopwatch.GetTimestamp() > deadline)
                {
                    throw new BenchException($"PostgreSQL on port {Port} accepts no connection: {e.Message}\nserver log:\n{Log}", e);
                }

                await Task.Delay(50);
            }
        }
    }

    /// <summary>A new empty database; returns the connection string the service gets.</summary>
    public async Task<string> CreateDatabaseAsync(string name)
    {
        if (name.Length is 0 or > 63 || !name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_'))
        {
            throw new BenchException($"not a usable database name: {name}");
        }

        await AdminAsync($"CREATE DATABASE {name}");
        var connectionString = ConnectionString(name);
        lock (_connectionStrings)
        {
            _connectionStrings.Add(connectionString);
        }

        return connectionString;
    }

    /// <summary>Committed transactions of <paramref name="database"/> so far, as the statistics show them (see <see cref="StatisticsSettle"/>).</summary>
    public Task<long> CommittedTransactionsAsync(string database) =>
        AdminScalarAsync<long>("SELECT xact_commit FROM pg_stat_database WHERE datname = @p", database);

    /// <summary>Forgets the statement counts of <paramref name="database"/>: pg_stat_statements counts from here.</summary>
    public async Task ResetStatementsAsync(string database)
    {
        if (HasStatements)
        {
            var oid = await AdminScalarAsync<uint>("SELECT oid FROM pg_database WHERE datname = @p", database);
            await using var command = _admin.CreateCommand("SELECT pg_stat_statements_reset(0, @oid, 0)");
            command.Parameters.Add(new NpgsqlParameter("oid", NpgsqlDbType.Oid) { Value = oid });
            await command.ExecuteNonQueryAsync();
        }
    }

    /// <summary>
    /// Statements executed in <paramref name="database"/> since the reset (sum of calls), and those the server spent most
    /// time executing, each with its total execution time.
    /// </summary>
    public async Task<(long Calls, IReadOnlyList<(long Calls, string Query)> Top)> StatementsAsync(string database, int top)
    {
        await using var command = _admin.CreateCommand(
            "SELECT s.calls, s.query, s.total_exec_time FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = @p " +
            "ORDER BY s.total_exec_time DESC");
        command.Parameters.AddWithValue("p", database);
        await using var reader = await command.ExecuteReaderAsync();
        long sum = 0;
        var list = new List<(long, string)>();
        while (await reader.ReadAsync())
        {
            var calls = reader.GetInt64(0);
            sum += calls;
            if (list.Count < top)
            {
                list.Add((calls, string.Create(CultureInfo.InvariantCulture, $"{reader.GetDouble(2),7:F1} ms  {OneLine(reader.GetString(1))}")));
            }
        }

        return (sum, list);

        static string OneLine(string query)
        {
            var text = string.Join(' ', query.Split((char[])['\n', '\r', '\t', ' '], StringSplitOptions.RemoveEmptyEntries));
            return text.Length > 150 ? text[..150] + "…" : text;
        }
    }

    /// <summary>Connections open to <paramref name="database"/> now.</summary>
    public Task<long> ConnectionsAsync(string database) =>
        AdminScalarAsync<long>("SELECT count(*) FROM pg_stat_activity WHERE datname = @p", database);

    /// <summary>
    /// CPU seconds of the whole server so far: the postmaster, its live children (backends, WAL writer, checkpointer…)
    /// and the children it has reaped (cutime + cstime).
    /// </summary>
    public double CpuSeconds
    {
        get
        {
            var postmaster = PostmasterPid();
            if (postmaster is null)
            {
                return 0;
            }

            var ticks = Stat(postmaster.Value) is { } own ? own.Own + own.Children : 0;
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (int.TryParse(Path.GetFileName(dir), CultureInfo.InvariantCulture, out var pid) && Stat(pid) is { } s && s.Parent == postmaster)
                {
                    ticks += s.Own;
                }
            }

            return ticks / 100.0;
        }
    }

    int? PostmasterPid()
    {
        try
        {
            var first = File.ReadLines(Path.Combine(Folder, "data", "postmaster.pid")).FirstOrDefault();
            return int.TryParse(first, CultureInfo.InvariantCulture, out var pid) ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Parent pid, own utime + stime, and reaped children's cutime + cstime (ticks) from /proc/&lt;pid&gt;/stat.</summary>
    static (int Parent, long Own, long Children)? Stat(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            long Field(int i) => long.Parse(fields[i], CultureInfo.InvariantCulture);
            return ((int)Field(1), Field(11) + Field(12), Field(13) + Field(14));
        }
        catch (IOException)
        {
            return null;
        }
    }

    async Task AdminAsync(string sql)
    {
        await using var command = _admin.CreateCommand(sql);
        await command.ExecuteNonQueryAsync();
    }

    async Task<T> AdminScalarAsync<T>(string sql, string? parameter = null)
    {
        await using var command = _admin.CreateCommand(sql);
        if (parameter is not null)
        {
            command.Parameters.AddWithValue("p", parameter);
        }

        var value = await command.ExecuteScalarAsync();
        return value is T typed ? typed : throw new BenchException($"{sql} returned {value ?? "null"}");
    }

    /// <summary><c>pg_ctl stop -m fast</c> and the folder deleted.</summary>
    public async ValueTask DisposeAsync()
    {
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

        await _admin.DisposeAsync();
        KillWatchdog(_watchdog);
        _watchdog.Dispose();
        await StopAndDeleteAsync(_bin, Folder);
    }

    static Process StartWatchdog(string bin, string folder)
    {
        // setsid: a new session, so the Ctrl+C that ends the bench does not end the watchdog before it has stopped the server.
        var stop = Command(folder, Path.Combine(bin, "pg_ctl"), true, "-D", Path.Combine(folder, "data"), "-m", "immediate", "-w", "stop");
        var info = new ProcessStartInfo("setsid") { UseShellExecute = false, WorkingDirectory = "/" };
        foreach (var argument in new[] { "sh", "-c", WatchdogScript, "sh", Environment.ProcessId.ToString(CultureInfo.InvariantCulture), folder, stop.FileName }
            .Concat(stop.ArgumentList))
        {
            info.ArgumentList.Add(argument);
        }

        return Process.Start(info) ?? throw new BenchException("could not start the PostgreSQL watchdog");
    }

    static void KillWatchdog(Process watchdog)
    {
        try
        {
            watchdog.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // It has exited already.
        }
    }

    static async Task StopAndDeleteAsync(string bin, string folder)
    {
        var data = Path.Combine(folder, "data");
        if (File.Exists(Path.Combine(data, "postmaster.pid")))
        {
            var (exitCode, output) = await RunAsync(folder, Path.Combine(bin, "pg_ctl"), true, "-D", data, "-m", "fast", "-w", "stop");
            if (exitCode != 0)
            {
                Console.WriteLine($"    pg_ctl stop -m fast failed ({exitCode}): {output.Trim()}");
                await RunAsync(folder, Path.Combine(bin, "pg_ctl"), true, "-D", data, "-m", "immediate", "-w", "stop");
            }
        }

        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException e)
        {
            Console.WriteLine($"    could not delete {folder}: {e.Message}");
        }
    }

    static string ReadLog(string folder)
    {
        try
        {
            return File.ReadAllText(Path.Combine(folder, "log"));
        }
        catch (IOException e)
        {
            return $"(no server log: {e.Message})";
        }
    }

    /// <summary>A command, as the postgres OS user when <paramref name="asPostgres"/> and the bench runs as root.</summary>
    static ProcessStartInfo Command(string folder, string file, bool asPostgres, params string[] arguments)
    {
        var info = asPostgres && IsRoot ? new ProcessStartInfo("runuser", ["-u", "postgres", "--", file, .. arguments]) : new ProcessStartInfo(file, arguments);
        // The postgres user may not enter the bench's working directory; the server's folder is its own.
        info.WorkingDirectory = Directory.Exists(folder) ? folder : "/";
        info.UseShellExecute = false;
        return info;
    }

    static async Task<(int ExitCode, string Output)> RunAsync(string folder, string file, bool asPostgres, params string[] arguments)
    {
        var info = Command(folder, file, asPostgres, arguments);
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        using var process = Process.Start(info) ?? throw new BenchException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"{file} did not finish within 90 s");
        }

        return (process.ExitCode, await stdout + await stderr);
    }

    static async Task RunOrThrowAsync(string folder, string file, bool asPostgres, params string[] arguments)
    {
        var (exitCode, output) = await RunAsync(folder, file, asPostgres, arguments);
        if (exitCode != 0)
        {
            throw new BenchException($"{file} {string.Join(' ', arguments)} failed ({exitCode}):\n{output}");
        }
    }
}
