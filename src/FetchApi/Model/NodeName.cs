namespace FetchApi.Model;

/// <summary>The default name of this process in a cluster (<c>Engine:NodeId</c>): the host name and the process id.</summary>
public static class NodeName
{
    public static string Default => $"{Environment.MachineName}-{Environment.ProcessId}";
}
