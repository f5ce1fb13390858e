namespace FetchApi.IntegrationTests;

/// <summary>
/// The service's log in the output of the test that is running, so that a failing test shows what the service said:
/// Information and above from FetchApi's own categories, Warning and above from the rest (ASP.NET Core, HttpClient).
/// </summary>
public static class TestOutputLogging
{
    /// <summary>
    /// Each line goes to <c>TestContext.Current</c>'s output, or else to <paramref name="fallback"/>, the output of the test
    /// that created the host, for work that does not carry a test's execution context.
    /// </summary>
    public static ILoggingBuilder AddTestOutput(this ILoggingBuilder logging, ITestOutputHelper? fallback) =>
        logging.AddProvider(new TestOutputLoggerProvider(fallback))
            .AddFilter<TestOutputLoggerProvider>(null, LogLevel.Warning)
            .AddFilter<TestOutputLoggerProvider>("FetchApi", LogLevel.Information);
}

public sealed class TestOutputLoggerProvider(ITestOutputHelper? fallback) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new TestOutputLogger(categoryName, fallback);

    public void Dispose()
    {
    }

    sealed class TestOutputLogger(string category, ITestOutputHelper? fallback) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel) || (TestContext.Current.TestOutputHelper ?? fallback) is not { } output)
            {
                return;
            }

            var line = $"[{DateTimeOffset.UtcNow:HH:mm:ss.fff} {Level(logLevel)}] {category}: {formatter(state, exception)}";
            if (exception is not null)
            {
                line += Environment.NewLine + exception;
            }

            try
            {
                output.WriteLine(line);
            }
            catch (InvalidOperationException)
            {
                // The test has ended; a background service outlived it. Nobody is left to read the line.
            }
        }

        static string Level(LogLevel level) => level switch
        {
            LogLevel.Trace => "trce",
            LogLevel.Debug => "dbug",
            LogLevel.Information => "info",
            LogLevel.Warning => "warn",
            LogLevel.Error => "fail",
            _ => "crit",
        };
    }
}
