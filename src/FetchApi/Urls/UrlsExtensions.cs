using FetchApi.Http;
using FluentValidation;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace FetchApi.Urls;

public static class UrlsExtensions
{
    public static WebApplicationBuilder AddFetchUrls(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<UrlCheckOptions>(UrlCheckOptions.Section);
        builder.Services.AddOptions<UrlLimits>(); // the numbers come from Batches (BatchesExtensions)
        builder.Services.AddSingleton<IValidator<CheckUrlsRequest>, CheckUrlsValidator>();
        builder.Services.AddSingleton(new HostLookup(Security.AddressPolicy.ResolveAsync));
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<UrlVerdicts>();
        builder.Services.AddSingleton<NameResolver>();
        builder.Services.AddSingleton<UrlCheckService>();
        builder.Services.AddSingleton(new TagDescription("Urls",
            "Check URLs before submitting them: the verdict the service would reach, the URL as it would be requested, duplicates. Nothing is fetched or stored."));
        return builder;
    }
}
