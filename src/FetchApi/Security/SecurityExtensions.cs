namespace FetchApi.Security;

public static class SecurityExtensions
{
    public static WebApplicationBuilder AddFetchSecurity(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<SecurityOptions>(SecurityOptions.Section);
        builder.Services.AddSingleton<AddressPolicy>();
        return builder;
    }
}
