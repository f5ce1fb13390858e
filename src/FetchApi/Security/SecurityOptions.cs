using System.ComponentModel.DataAnnotations;
using System.Net;

namespace FetchApi.Security;

/// <summary>Outbound address policy (section <c>Security</c>).</summary>
public sealed class SecurityOptions : IValidatableObject
{
    public const string Section = "Security";

    /// <summary>CIDR ranges that may be fetched even though the policy refuses them by default (e.g. <c>127.0.0.0/8</c>).</summary>
    public List<string> AllowedNetworks { get; set; } = [];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        for (var i = 0; i < AllowedNetworks.Count; i++)
        {
            if (!IPNetwork.TryParse(AllowedNetworks[i], out _))
            {
                yield return new ValidationResult(
                    $"Security:AllowedNetworks:{i} ('{AllowedNetworks[i]}') is not a CIDR range such as 127.0.0.0/8.",
                    [nameof(AllowedNetworks)]);
            }
        }
    }
}
