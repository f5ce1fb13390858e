using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace FetchApi.Model;

/// <summary>What <c>options.extract</c> may read from an HTML page.</summary>
[JsonConverter(typeof(ExtractFieldJson))]
public enum ExtractField
{
    /// <summary>The document's title, as a browser shows it in the tab.</summary>
    Title = 0,
    /// <summary>The content of <c>&lt;meta name="description"&gt;</c>.</summary>
    Description = 1,
    /// <summary>The targets of <c>&lt;a href&gt;</c> and <c>&lt;area href&gt;</c>: absolute http(s) URLs, without fragments, each once.</summary>
    Links = 2,
    /// <summary>The visible text of the body, whitespace collapsed.</summary>
    Text = 3,
}

/// <summary>
/// Extract fields are strings wherever they are written, the stored options included: <c>"title"</c>, <c>"links"</c>.
/// </summary>
public sealed class ExtractFieldJson() : JsonStringEnumConverter<ExtractField>(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false)
{
    static readonly Dictionary<string, ExtractField> ByName = Enum.GetValues<ExtractField>()
        .ToDictionary(f => JsonNamingPolicy.SnakeCaseLower.ConvertName(f.ToString()), StringComparer.Ordinal);

    /// <summary>The wire names, in order: title, description, links, text.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. ByName.Keys];

    /// <summary>The field named exactly <paramref name="name"/> on the wire (lower case).</summary>
    public static bool TryParse(string? name, [NotNullWhen(true)] out ExtractField? field)
    {
        field = name is not null && ByName.TryGetValue(name, out var found) ? found : null;
        return field is not null;
    }
}

/// <summary>
/// What was read from an HTML response: only the fields <c>options.extract</c> asked for, each absent when the page
/// has none. <c>links</c> and <c>text</c> each hold at most <c>maxBodyBytes</c> bytes of UTF-8.
/// </summary>
public sealed record Extracted
{
    /// <summary>The first <c>&lt;title&gt;</c>, whitespace collapsed; absent when the page has none or it is blank.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Title { get; init; }
    /// <summary>The first <c>&lt;meta name="description"&gt;</c>'s content, whitespace collapsed.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Description { get; init; }
    /// <summary>
    /// Absolute http and https URLs of the page's <c>a</c> and <c>area</c> elements, resolved against <c>finalUrl</c>
    /// and <c>&lt;base href&gt;</c>, fragments dropped, each once, in document order.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? Links { get; init; }
    /// <summary>The body's visible text (no script, style, template, noscript or hidden elements), whitespace collapsed.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Text { get; init; }
    /// <summary>Why nothing could be read (the page took too long to parse, for example); the slot is still <c>fetched</c>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Error { get; init; }
}
