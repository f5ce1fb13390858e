namespace FetchApi.Callbacks;

public static class CallbacksExtensions
{
    /// <summary>Signed callbacks when a batch ends, retried from the store's outbox (started by Hosting/Lifetime).</summary>
    public static WebApplicationBuilder AddFetchCallbacks(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<CallbackOptions>(CallbackOptions.Section);
        builder.Services.AddSingleton<CallbackDispatcher>();
        return builder;
    }
}
