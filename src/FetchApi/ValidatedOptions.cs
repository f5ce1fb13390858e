namespace FetchApi;

public static class ValidatedOptions
{
    /// <summary>
    /// Binds <typeparamref name="T"/> to <paramref name="section"/>, validates its data annotations and
    /// <see cref="System.ComponentModel.DataAnnotations.IValidatableObject"/> rules, and does so at start: a bad
    /// appsettings.json stops the service with a message naming the key, instead of failing on first use.
    /// </summary>
    public static IServiceCollection AddValidatedOptions<T>(this IServiceCollection services, string section) where T : class
    {
        services.AddOptions<T>().BindConfiguration(section).ValidateDataAnnotations().ValidateOnStart();
        return services;
    }
}
