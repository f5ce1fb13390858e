using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using FetchApi.Http;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace FetchApi.Security;

/// <summary><c>Authorization: Bearer &lt;key&gt;</c> against the configured keys, compared in constant time.</summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IOptions<ApiKeyOptions> keys) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "Bearer";

    readonly (string Name, byte[] Hash)[] _keys = [.. keys.Value.ApiKeys.Select(k => (k.Name, SHA256.HashData(Encoding.UTF8.GetBytes(k.Key))))];

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (header.Length == 0)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return Task.FromResult(AuthenticateResult.Fail("The Authorization header is not 'Bearer <key>'."));
        }

        // Hashes have one length whatever the key's, and every key is compared: timing tells nothing about any key.
        var presented = SHA256.HashData(Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim()));
        string? name = null;
        foreach (var key in _keys)
        {
            if (CryptographicOperations.FixedTimeEquals(presented, key.Hash))
            {
                name = key.Name;
            }
        }

        if (name is null)
        {
            return Task.FromResult(AuthenticateResult.Fail("Unknown API key."));
        }

        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, name)], SchemeName);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "Bearer";
        await Problems.WriteAsync(Context, ProblemCode.Unauthorized, "A valid API key is required",
            "Send 'Authorization: Bearer <key>' with a key from Security:ApiKeys.");
    }
}

public static partial class ApiKeyExtensions
{
    public const string Policy = "api-key";

    /// <summary>The owner of what this request creates or reads: the API key's name, or null when the service is open.</summary>
    public static string? Owner(this ClaimsPrincipal user) => user.Identity is { IsAuthenticated: true, Name: { } name } ? name : null;

    public static WebApplicationBuilder AddFetchApiKeys(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<ApiKeyOptions>(SecurityOptions.Section, nameof(SecurityOptions.AllowedNetworks), nameof(SecurityOptions.DeniedNetworks));
        builder.Services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        builder.Services.ConfigureSwaggerGen(o =>
        {
            // The Authorize button: paste an API key, and every "Try it out" sends it as a bearer token.
            o.AddSecurityDefinition(ApiKeyAuthenticationHandler.SchemeName, new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = "An API key from Security:ApiKeys, sent as 'Authorization: Bearer <key>'.",
            });
            o.OperationFilter<BearerRequirementFilter>();
        });
        builder.Services.AddAuthorizationBuilder().AddPolicy(Policy, policy => policy.RequireAssertion(context =>
        {
            var keys = (context.Resource as HttpContext)?.RequestServices.GetRequiredService<IOptions<ApiKeyOptions>>().Value.ApiKeys;
            return keys is null or { Count: 0 } || context.User.Identity?.IsAuthenticated == true;
        }));
        return builder;
    }

    /// <summary>Authentication before rate limiting, so that limits are partitioned per key.</summary>
    public static WebApplication UseFetchApiKeys(this WebApplication app)
    {
        app.UseAuthentication();
        app.UseAuthorization();
        if (app.Services.GetRequiredService<IOptions<ApiKeyOptions>>().Value.ApiKeys.Count == 0)
        {
            LogOpen(app.Logger);
        }

        return app;
    }

    /// <summary>
    /// Operations behind the API-key policy need the bearer token, but only when keys are configured: an open service
    /// documents no security, so that generated clients do not insist on a token.
    /// </summary>
    sealed class BearerRequirementFilter(IOptions<ApiKeyOptions> keys) : IOperationFilter
    {
        public void Apply(OpenApiOperation operation, OperationFilterContext context)
        {
            // An empty list says so explicitly: this operation needs no credentials.
            operation.Security = keys.Value.ApiKeys.Count > 0 && context.ApiDescription.ActionDescriptor.EndpointMetadata.OfType<IAuthorizeData>().Any()
                ? [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(ApiKeyAuthenticationHandler.SchemeName, context.Document)] = [] }]
                : [];
        }
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "No API keys are configured (Security:ApiKeys): the API is open to anyone who can reach it, and all batches share one owner.")]
    static partial void LogOpen(ILogger logger);
}
