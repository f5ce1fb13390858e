using System.ComponentModel.DataAnnotations;
using System.Net;

namespace FetchApi.Security;

/// <summary>Outbound address policy (section <c>Security</c>).</summary>
public sealed class SecurityOptions : IValidatableObject
{
    public const string Section = "Security";

    /// <summary>CIDR ranges that may be fetched even though the policy refuses them by default (e.g. <c>127.0.0.0/8</c>).</summary>
    public List<string> AllowedNetworks { get; set; } = [];

    /// <summary>CIDR ranges refused on top of the built-in table (e.g. your own public ranges); <c>AllowedNetworks</c> wins over them.</summary>
    public List<string> DeniedNetworks { get; set; } = [];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var (name, list) in new[] { (nameof(AllowedNetworks), AllowedNetworks), (nameof(DeniedNetworks), DeniedNetworks) })
        {
            for (var i = 0; i < list.Count; i++)
            {
                if (!IPNetwork.TryParse(list[i], out _))
                {
                    yield return new ValidationResult($"Security:{name}:{i} ('{list[i]}') is not a CIDR range such as 127.0.0.0/8.", [name]);
                }
            }
        }
    }
}
