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

    public static T? OneOf<T>(string? value, string name, Dictionary<string, string[]> errors) where T : struct, System.Enum
    {
        if (value is null)
        {
            return null;
        }

        if (!int.TryParse(value, out _) && System.Enum.TryParse<T>(value, ignoreCase: true, out var parsed) && System.Enum.IsDefined(parsed))
        {
            return parsed;
        }

        errors[name] = [$"'{name}' must be one of {string.Join(", ", System.Enum.GetNames<T>().Select(n => n.ToLowerInvariant()))}."];
        return null;
    }
}
