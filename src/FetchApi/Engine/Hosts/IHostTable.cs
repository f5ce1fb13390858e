namespace FetchApi.Engine.Hosts;

/// <summary>A per-host table that gives back the entries of hosts gone idle when swept (<see cref="HostSweeper"/>).</summary>
public interface IHostTable
{
    /// <summary>Forgets the entries due to go at <paramref name="now"/>, looking at no more than those.</summary>
    void Sweep(DateTimeOffset now);
}
