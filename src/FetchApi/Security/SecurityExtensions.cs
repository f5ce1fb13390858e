namespace FetchApi.Security;

public static class SecurityExtensions
{
    public static WebApplicationBuilder AddFetchSecurity(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<SecurityOptions>()
            .BindConfiguration(SecurityOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<AddressPolicy>();
        return builder;
    }
}
