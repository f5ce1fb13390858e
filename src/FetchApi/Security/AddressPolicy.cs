using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace FetchApi.Security;

/// <summary>Thrown at connect time when a host resolves to an address the policy refuses.</summary>
public sealed class BlockedAddressException(string host, IPAddress address)
    : Exception(IPAddress.TryParse(host.Trim('[', ']'), out _)
        ? $"{address} is in a range the outbound address policy refuses (loopback, private, link-local, reserved, ...)"
        : $"{host} resolves to {address}, which the outbound address policy refuses (loopback, private, link-local, reserved, ...)")
{
    public string Host { get; } = host;
    public IPAddress Address { get; } = address;
}

/// <summary>
/// Decides which addresses the engine may connect to, and connects only to addresses it checked:
/// the host is resolved once, every address is checked, and the socket connects to those same addresses,
/// so a second DNS answer (rebinding) never reaches a socket.
/// </summary>
public sealed class AddressPolicy
{
    // Refused unless Security:AllowedNetworks opens them. IPv4-mapped, IPv4-compatible, NAT64 and 6to4
    // forms are reduced to their IPv4 address first (see Normalize), so they are judged by this table too.
    static readonly IPNetwork[] Refused =
    [
        .. new[]
        {
            "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
            "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
            "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
            "::/128", "::1/128", "100::/64", "2001:db8::/32", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
        }.Select(IPNetwork.Parse),
    ];

    static readonly IPNetwork Nat64 = IPNetwork.Parse("64:ff9b::/96");
    static readonly IPNetwork SixToFour = IPNetwork.Parse("2002::/16");

    readonly IPNetwork[] _allowed;

    public AddressPolicy(IOptions<SecurityOptions> options)
    {
        _allowed = [.. options.Value.AllowedNetworks.Select(IPNetwork.Parse)];
    }

    /// <summary>Whether a connection to <paramref name="address"/> is allowed.</summary>
    public bool IsAllowed(IPAddress address)
    {
        var normalized = Normalize(address);
        if (_allowed.Any(n => n.Contains(address) || n.Contains(normalized)))
        {
            return true;
        }

        return !Refused.Any(n => n.Contains(normalized)) && !Refused.Any(n => n.Contains(address));
    }

    /// <summary>The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4), else itself.</summary>
    public static IPAddress Normalize(IPAddress address)
    {
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        var bytes = address.GetAddressBytes();
        if (Nat64.Contains(address) || (bytes.AsSpan(0, 12).IndexOfAnyExcept((byte)0) < 0 && !IsZeroOrOne(bytes)))
        {
            return new IPAddress(bytes.AsSpan(12, 4));
        }

        return SixToFour.Contains(address) ? new IPAddress(bytes.AsSpan(2, 4)) : address;
    }

    static bool IsZeroOrOne(byte[] bytes) => bytes.AsSpan(12, 3).IndexOfAnyExcept((byte)0) < 0 && bytes[15] <= 1;

    /// <summary>
    /// <see cref="SocketsHttpHandler.ConnectCallback"/>: resolve, check every address, connect to a checked one.
    /// </summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(host, cancellationToken);

        foreach (var address in addresses)
        {
            if (!IsAllowed(address))
            {
                throw new BlockedAddressException(host, address);
            }
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, context.DnsEndPoint.Port, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
