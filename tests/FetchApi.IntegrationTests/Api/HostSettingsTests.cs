using FetchApi.IntegrationTests.Durability;

namespace FetchApi.IntegrationTests.ApiTests;

/// <summary>ASP.NET Core's own settings work as its documentation says, wherever the service is started from.</summary>
public sealed class HostSettingsTests
{
    /// <summary>
    /// <c>--urls</c> (like <c>ASPNETCORE_URLS</c>) is the host's <c>urls</c> key. Started outside its folder, with no
    /// appsettings.json beside it, the service once read that key as its own <c>Urls</c> options section and refused to
    /// start ("Failed to convert configuration value … to type UrlCheckOptions").
    /// </summary>
    [Fact]
    public async Task TheStandardUrlsSettingStartsTheServiceFromAnyWorkingDirectory()
    {
        var folder = Directory.CreateTempSubdirectory("fetchapi-cwd-");
        try
        {
            await using var service = await ServiceProcess.StartAsync(Path.Combine(folder.FullName, "fetchapi.db"),
                workingDirectory: folder.FullName);

            var ready = await service.Client.GetAsync("/health/ready", TestContext.Current.CancellationToken);

            Assert.Equal(System.Net.HttpStatusCode.OK, ready.StatusCode);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
