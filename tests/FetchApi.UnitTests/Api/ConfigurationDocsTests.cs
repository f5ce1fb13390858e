using System.Collections;
using System.Reflection;
using FetchApi.Batches;
using FetchApi.Callbacks;
using FetchApi.Engine;
using FetchApi.Http;
using FetchApi.Security;
using FetchApi.Storage;
using FetchApi.Telemetry;
using FetchApi.Urls;
using Microsoft.Extensions.Configuration;

namespace FetchApi.UnitTests.Api;

/// <summary>The configuration reference and the shipped appsettings.json say the same as the options classes.</summary>
public sealed class ConfigurationDocsTests
{
    public static TheoryData<Type, string> OptionsClasses => new()
    {
        { typeof(BatchLimits), BatchLimits.Section },
        { typeof(EngineOptions), EngineOptions.Section },
        { typeof(StorageOptions), StorageOptions.Section },
        { typeof(SecurityOptions), SecurityOptions.Section },
        { typeof(ApiKeyOptions), SecurityOptions.Section },
        { typeof(RateLimitingOptions), RateLimitingOptions.Section },
        { typeof(ServerLimitsOptions), ServerLimitsOptions.Section },
        { typeof(CallbackOptions), CallbackOptions.Section },
        { typeof(TelemetryOptions), TelemetryOptions.Section },
        { typeof(UrlCheckOptions), UrlCheckOptions.Section },
    };

    static IEnumerable<PropertyInfo> Settings(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite);

    [Theory]
    [MemberData(nameof(OptionsClasses))]
    public void EverySettingIsDocumented(Type type, string section)
    {
        var docs = File.ReadAllText(Path.Combine(Repository.Root, "docs", "configuration.md"));

        Assert.All(Settings(type), p => Assert.Contains($"`{section}:{p.Name}`", docs, StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(OptionsClasses))]
    public void AppsettingsHoldsTheDefaults(Type type, string section)
    {
        var configuration = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(Repository.Root, "appsettings.json"))
            .Build();
        var defaults = Activator.CreateInstance(type)!;
        var shipped = configuration.GetSection(section).Get(type) ?? Activator.CreateInstance(type)!;

        foreach (var property in Settings(type))
        {
            Assert.True(configuration.GetSection($"{section}:{property.Name}").Exists(), $"appsettings.json has no {section}:{property.Name}");
            var expected = property.GetValue(defaults);
            var actual = property.GetValue(shipped);
            if (expected is IEnumerable list and not string)
            {
                Assert.Equal(list.Cast<object>(), ((IEnumerable)actual!).Cast<object>());
            }
            else
            {
                Assert.True(Equals(expected, actual), $"{section}:{property.Name} is {actual} in appsettings.json, {expected} in code");
            }
        }
    }
}
