using System.ComponentModel.DataAnnotations;

namespace FetchApi.Security;

/// <summary>One client's key. The name identifies the client (batch owner, rate-limit partition) and is safe to log.</summary>
public sealed class ApiKey
{
    [Required] public string Name { get; set; } = "";
    [Required] public string Key { get; set; } = "";
}

/// <summary>API keys (section <c>Security</c>, list <c>ApiKeys</c>). None configured: the service is open.</summary>
public sealed class ApiKeyOptions : IValidatableObject
{
    public List<ApiKey> ApiKeys { get; set; } = [];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        for (var i = 0; i < ApiKeys.Count; i++)
        {
            var key = ApiKeys[i];
            if (string.IsNullOrWhiteSpace(key.Name))
            {
                yield return new ValidationResult($"Security:ApiKeys:{i}:Name is empty.");
            }

            if (key.Key.Length < 16)
            {
                yield return new ValidationResult($"Security:ApiKeys:{i}:Key ('{key.Name}') is shorter than 16 characters.");
            }
        }

        foreach (var duplicate in ApiKeys.GroupBy(k => k.Name).Where(g => g.Count() > 1))
        {
            yield return new ValidationResult($"Security:ApiKeys: the name '{duplicate.Key}' is used more than once.");
        }
    }
}
