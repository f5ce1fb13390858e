namespace FetchApi.Http;

/// <summary>
/// Limits on every request, set by the features that know them (the batch limits set the body size): the plumbing
/// enforces them without importing any feature.
/// </summary>
public sealed class RequestLimits
{
    /// <summary>Largest request body; 413 beyond it.</summary>
    public long MaxBodyBytes { get; set; } = 8L * 1024 * 1024;
}
