using Microsoft.Extensions.Options;

namespace FetchApi;

public static class ValidatedOptions
{
    /// <summary>Options type → its section, so that an unknown key can be reported as <c>Section:Key</c>.</summary>
    static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> Sections = new();

    /// <summary>
    /// Binds <typeparamref name="T"/> to <paramref name="section"/>, validates its data annotations and
    /// <see cref="System.ComponentModel.DataAnnotations.IValidatableObject"/> rules, and does so at start: a bad
    /// appsettings.json stops the service with a message naming the key, instead of failing on first use. A key that
    /// names no setting (<c>Storage__Provder</c>) is an error too, not a silent default. <paramref name="sharedWith"/>
    /// lists the keys of a section that another options class binds (the binder cannot tell those apart, so such a
    /// section's own keys are checked here, one level deep).
    /// </summary>
    public static IServiceCollection AddValidatedOptions<T>(this IServiceCollection services, string section, params string[] sharedWith)
        where T : class
    {
        Sections[typeof(T).FullName!] = section;
        services.AddOptions<T>()
            .BindConfiguration(section, o => o.ErrorOnUnknownConfiguration = sharedWith.Length == 0)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        if (sharedWith.Length > 0)
        {
            services.AddSingleton<IValidateOptions<T>>(provider => new KnownKeys<T>(provider.GetRequiredService<IConfiguration>(), section, sharedWith));
        }

        return services;
    }

    sealed class KnownKeys<T>(IConfiguration configuration, string section, string[] sharedWith) : IValidateOptions<T> where T : class
    {
        public ValidateOptionsResult Validate(string? name, T options)
        {
            var known = typeof(T).GetProperties().Select(p => p.Name).Concat(sharedWith).ToHashSet(StringComparer.OrdinalIgnoreCase);
            var unknown = configuration.GetSection(section).GetChildren().Select(c => c.Key).Where(k => !known.Contains(k)).ToList();
            return unknown.Count == 0
                ? ValidateOptionsResult.Success
                : ValidateOptionsResult.Fail(unknown.Select(k => $"{section}:{k} is not a setting (known: {string.Join(", ", known.Order())})."));
        }
    }

    /// <summary>The binder's "properties were not found on the instance of T: 'A', 'B'" as "Section:A, Section:B are not settings".</summary>
    static string Describe(string message)
    {
        var match = System.Text.RegularExpressions.Regex.Match(message, @"instance of ([\w.]+): (.+)$");
        if (!match.Success || !Sections.TryGetValue(match.Groups[1].Value, out var section))
        {
            return message.ReplaceLineEndings(" ");
        }

        var keys = match.Groups[2].Value.Split(',', StringSplitOptions.TrimEntries).Select(k => $"{section}:{k.Trim('\'')}");
        return $"{string.Join(", ", keys)} is not a setting (docs/configuration.md lists them; a typo?).";
    }

    /// <summary>
    /// A configuration error found while starting, as one line naming the key (what an operator needs), or null when
    /// <paramref name="exception"/> is something else.
    /// </summary>
    public static string? StartupError(Exception exception) => exception switch
    {
        Model.StartupRefusedException refused => $"Refusing to start: {refused.Message}",
        OptionsValidationException invalid => $"Configuration error: {string.Join(" ", invalid.Failures)}",
        InvalidOperationException { Source: "Microsoft.Extensions.Configuration.Binder" } binder => $"Configuration error: {Describe(binder.Message)}",
        AggregateException aggregate when aggregate.InnerExceptions.Select(StartupError).FirstOrDefault(e => e is not null) is { } first => first,
        _ when exception.InnerException is { } inner => StartupError(inner),
        _ => null,
    };
}
