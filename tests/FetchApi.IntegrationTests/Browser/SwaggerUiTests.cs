using System.Text.Json.Nodes;
using FetchApi.IntegrationTests.Durability;
using Microsoft.Playwright;

namespace FetchApi.IntegrationTests.Browser;

/// <summary>
/// The Swagger UI as a person uses it, in headless Chromium (Debian's package, driven by Playwright) against the real
/// service process: expand POST /batches, Try it out, edit the example's URLs as a person would, Execute, read 202 and
/// the id; then GET it. The example names public hosts: a test never submits those, so its URLs become two of the
/// service's own loopback URLs, every other field as the UI shows it; and Chromium resolves no name but the loopback
/// address and sends nothing but to loopback (its background services would ask DNS for Google's hosts).
/// </summary>
public sealed class SwaggerUiTests
{
    const string Chromium = "/usr/bin/chromium";

    static string ScreenshotPath(string name)
    {
        var directory = Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(directory);
        return Path.Combine(directory, name);
    }

    [Fact]
    public async Task ExampleFromTheSwaggerUiCreatesABatchWhoseResultsTheUiShows()
    {
        if (!File.Exists(Chromium))
        {
            Assert.False(Environment.GetEnvironmentVariable("CI") == "true", $"{Chromium} is missing on CI; .ci/run installs it.");
            Assert.Skip($"{Chromium} is not installed; install it with: apt-get install -y chromium");
        }

        var directory = Path.Combine(Path.GetTempPath(), "fetchapi-browser", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        await using var service = await ServiceProcess.StartAsync(Path.Combine(directory, "fetchapi.db"));

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--disable-quic", "--disable-domain-reliability", "--no-pings", "--disable-default-apps",
                "--disable-client-side-phishing-detection", "--disable-features=AutofillServerCommunication,OptimizationHints,Translate,MediaRouter",
                // Network rule: no name resolves but loopback, and anything not for loopback goes to a dead loopback proxy.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost", "--proxy-server=http://127.0.0.1:9"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 2400 } });
        page.SetDefaultTimeout(30_000);

        await page.GotoAsync(new Uri(service.Client.BaseAddress!, "/swagger").ToString());

        // POST /batches: expand, Try it out, point the example's URLs at loopback in the editor, Execute.
        var create = page.Locator("#operations-Batches-CreateBatch");
        await create.Locator(".opblock-summary").ClickAsync();
        await create.GetByRole(AriaRole.Button, new() { Name = "Try it out" }).ClickAsync();
        var editor = create.Locator("textarea.body-param__text");
        var example = JsonNode.Parse(await editor.InputValueAsync())!;
        Assert.Equal(2, example["urls"]!.AsArray().Count);
        var own = service.Client.BaseAddress!;
        example["urls"] = new JsonArray(new Uri(own, "/health/live").ToString(), new Uri(own, "/swagger/v1/swagger.json").ToString());
        await editor.FillAsync(example.ToJsonString());
        await create.GetByRole(AriaRole.Button, new() { Name = "Execute" }).ClickAsync();
        var createResponse = create.Locator(".live-responses-table .response").First;
        await Assertions.Expect(createResponse.Locator(".response-col_status")).ToContainTextAsync("202");
        var created = JsonNode.Parse(await createResponse.Locator(".response-col_description pre").First.InnerTextAsync())!;
        var id = created["id"]!.GetValue<Guid>();
        Assert.Equal(2, created["counts"]!["total"]!.GetValue<int>());
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = ScreenshotPath("swagger-create-batch.png"), FullPage = true });

        // Both slots are fetched from the service itself within moments: wait, then read the batch in the UI.
        await service.Client.WaitUntilDoneAsync(id);

        var get = page.Locator("#operations-Batches-GetBatch");
        await get.Locator(".opblock-summary").ClickAsync();
        await get.GetByRole(AriaRole.Button, new() { Name = "Try it out" }).ClickAsync();
        await get.Locator("tr[data-param-name='id'] input").FillAsync(id.ToString());
        await get.GetByRole(AriaRole.Button, new() { Name = "Execute" }).ClickAsync();
        var getResponse = get.Locator(".live-responses-table .response").First;
        await Assertions.Expect(getResponse.Locator(".response-col_status")).ToContainTextAsync("200");
        var batch = JsonNode.Parse(await getResponse.Locator(".response-col_description pre").First.InnerTextAsync())!;
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = ScreenshotPath("swagger-get-batch.png"), FullPage = true });

        Assert.Equal(id, batch["id"]!.GetValue<Guid>());
        Assert.Equal("completed", batch["status"]!.GetValue<string>());
        var results = batch["results"]!.AsArray();
        Assert.Equal([0, 1], results.Select(r => r!["index"]!.GetValue<int>()));
        Assert.All(results, r => Assert.Equal(("fetched", 200), (r!["state"]!.GetValue<string>(), r["response"]!["statusCode"]!.GetValue<int>())));

        Directory.Delete(directory, recursive: true);
    }
}
