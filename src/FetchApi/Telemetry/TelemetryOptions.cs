namespace FetchApi.Telemetry;

/// <summary>Telemetry switches (section <c>Telemetry</c>).</summary>
public sealed class TelemetryOptions
{
    public const string Section = "Telemetry";

    /// <summary>Serve Prometheus metrics at <c>/metrics</c>.</summary>
    public bool Prometheus { get; set; }
}
