using System.Globalization;

namespace FetchApi.Http;

/// <summary>Query-string parsing that reports a bad value under the parameter's name.</summary>
public static class QueryValues
{
    public static int WholeNumber(string? value, string name, int fallback, int min, int max, Dictionary<string, string[]> errors)
    {
        if (value is null)
        {
            return fallback;
        }

        if (int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) && parsed >= min && parsed <= max)
        {
            return parsed;
        }

        errors[name] = [max == int.MaxValue ? $"'{name}' must be a whole number, {min} or more." : $"'{name}' must be a whole number from {min} to {max}."];
        return fallback;
    }

    public static bool Flag(string? value, string name, bool fallback, Dictionary<string, string[]> errors)
    {
        if (value is null)
        {
            return fallback;
        }

        if (bool.TryParse(value, out var parsed))
        {
            return parsed;
        }

        errors[name] = [$"'{name}' must be true or false."];
        return fallback;
    }

    /// <summary>Exactly one of the enum's wire names (<c>fetched</c>); a list (<c>fetched,failed</c>) or a number is an error.</summary>
    public static T? OneOf<T>(string? value, string name, Dictionary<string, string[]> errors) where T : struct, System.Enum
    {
        if (value is null)
        {
            return null;
        }

        foreach (var candidate in System.Enum.GetValues<T>())
        {
            if (WireName(candidate).Equals(value, StringComparison.OrdinalIgnoreCase))
            {
                return candidate;
            }
        }

        errors[name] = [$"'{name}' must be exactly one of {string.Join(", ", System.Enum.GetValues<T>().Select(WireName))}."];
        return null;
    }

    /// <summary>An enum value as the API writes it: <c>blocked_address</c>.</summary>
    public static string WireName<T>(T value) where T : struct, System.Enum =>
        System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());
}
