namespace FetchApi.Security;

public static class SecurityExtensions
{
    public static WebApplicationBuilder AddFetchSecurity(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<SecurityOptions>(SecurityOptions.Section, nameof(ApiKeyOptions.ApiKeys));
        builder.Services.AddSingleton<AddressPolicy>();
        return builder;
    }
}
