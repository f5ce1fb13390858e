using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace FetchApi.Security;

/// <summary>Thrown at connect time when a host stands for an address the policy refuses. The message names the address.</summary>
public sealed class BlockedAddressException(string host, IPAddress address, string reason, bool literal)
    : Exception(literal
        ? $"{address} is {reason}, which the outbound address policy refuses"
        : $"{host} resolves to {address}, {reason}, which the outbound address policy refuses")
{
    public string Host { get; } = host;
    public IPAddress Address { get; } = address;
}

/// <summary>What the policy says about a URL host before any connection is made.</summary>
public enum HostVerdict
{
    /// <summary>The host is an address (in some spelling) the policy allows.</summary>
    Allowed,

    /// <summary>The host is an address, or a <c>localhost</c> name, the policy refuses.</summary>
    Refused,

    /// <summary>The host is a DNS name: every address it resolves to is checked at connect time.</summary>
    NeedsDns,

    /// <summary>Not a host a URL can hold.</summary>
    Invalid,
}

/// <param name="Verdict">The decision.</param>
/// <param name="Host">The host as the HTTP stack hands it to the connect callback (IDN and numeric forms normalised).</param>
/// <param name="Address">The refused address when refused, the address connected to when allowed, else null.</param>
/// <param name="Reason">Why the address is refused, e.g. <c>in 127.0.0.0/8 (loopback)</c>.</param>
public sealed record HostDecision(HostVerdict Verdict, string Host, IPAddress? Address, string? Reason);

/// <summary>The policy's judgement of one address.</summary>
/// <param name="Address">The address judged.</param>
/// <param name="Range">The refused range it is in (<c>in 127.0.0.0/8 (loopback)</c>), opened or not; null when it is in none.</param>
/// <param name="OpenedBy">The <c>Security:AllowedNetworks</c> range that opens <paramref name="Range"/> anyway.</param>
public sealed record AddressJudgement(IPAddress Address, string? Range, IPNetwork? OpenedBy)
{
    public bool Refused => Range is not null && OpenedBy is null;

    /// <summary>In a refused range that configuration opens.</summary>
    public bool Opened => Range is not null && OpenedBy is not null;

    /// <summary><c>127.0.0.1 is in 127.0.0.0/8 (loopback)</c>, with <c>, opened by Security:AllowedNetworks (127.0.0.0/8)</c> when opened.</summary>
    public override string ToString() => Range is null
        ? $"{Address} is in no refused range"
        : OpenedBy is { } opened ? $"{Address} is {Range}, opened by Security:AllowedNetworks ({opened})" : $"{Address} is {Range}";
}

/// <summary>
/// Decides which addresses the engine may connect to, and connects only to addresses it checked:
/// the host is resolved once, every address is checked, and the socket connects to those same addresses,
/// so a second DNS answer (rebinding) never reaches a socket. Runs as the handler's ConnectCallback, so every
/// new connection (every redirect hop to a new host) goes through it.
/// </summary>
public sealed class AddressPolicy
{
    // Refused unless Security:AllowedNetworks opens them (IANA special-purpose registries, not globally reachable).
    // IPv4-mapped, IPv4-compatible, IPv4-translated, NAT64 and 6to4 addresses are judged by the IPv4 they embed.
    // First match names the range in the error, so the narrow entries come before the wide ones they sit in.
    static readonly (IPNetwork Network, string Name)[] Refused =
    [
        .. new (string Cidr, string Name)[]
        {
            ("0.0.0.0/8", "'this network'"),
            ("10.0.0.0/8", "private"),
            ("100.64.0.0/10", "carrier-grade NAT"),
            ("127.0.0.0/8", "loopback"),
            ("169.254.0.0/16", "link-local, where cloud metadata lives"),
            ("172.16.0.0/12", "private"),
            ("192.0.0.0/24", "IETF protocol assignments"),
            ("192.0.2.0/24", "documentation"),
            ("192.88.99.0/24", "6to4 relay anycast"),
            ("192.168.0.0/16", "private"),
            ("198.18.0.0/15", "benchmarking"),
            ("198.51.100.0/24", "documentation"),
            ("203.0.113.0/24", "documentation"),
            ("224.0.0.0/4", "multicast"),
            ("255.255.255.255/32", "broadcast"),
            ("240.0.0.0/4", "reserved"),
            ("::/128", "unspecified"),
            ("::1/128", "loopback"),
            ("64:ff9b:1::/48", "local-use NAT64"),
            ("100::/64", "discard-only"),
            ("100:0:0:1::/64", "dummy prefix"),
            ("2001:db8::/32", "documentation"),
            ("2001::/23", "IETF protocol assignments (Teredo, benchmarking, ORCHID)"),
            ("3fff::/20", "documentation"),
            ("5f00::/16", "segment routing"),
            ("fc00::/7", "unique local"),
            ("fe80::/10", "link-local"),
            ("fec0::/10", "site-local"),
            ("ff00::/8", "multicast"),
        }.Select(r => (IPNetwork.Parse(r.Cidr), r.Name)),
    ];

    // Every IPv6 address the Internet routes is in 2000::/3; the rest is reserved, local or multicast.
    static readonly IPNetwork GlobalUnicast = IPNetwork.Parse("2000::/3");
    static readonly IPNetwork Nat64 = IPNetwork.Parse("64:ff9b::/96");
    static readonly IPNetwork SixToFour = IPNetwork.Parse("2002::/16");

    readonly IPNetwork[] _allowed;
    readonly IPNetwork[] _denied;

    public AddressPolicy(IOptions<SecurityOptions> options)
    {
        _allowed = [.. options.Value.AllowedNetworks.Select(IPNetwork.Parse)];
        _denied = [.. options.Value.DeniedNetworks.Select(IPNetwork.Parse)];
    }

    /// <summary>Whether a connection to <paramref name="address"/> is allowed.</summary>
    public bool IsAllowed(IPAddress address) => RefusalReason(address) is null;

    /// <summary>Why <paramref name="address"/> is refused (<c>in 127.0.0.0/8 (loopback)</c>), or null when it is allowed.</summary>
    public string? RefusalReason(IPAddress address) => AllowedBy(address) is null ? RefusalWithoutAllowedNetworks(address) : null;

    /// <summary>
    /// The policy's judgement of <paramref name="address"/>, for explaining it: the refused range it is in (whether or not
    /// configuration opens it) and the <c>Security:AllowedNetworks</c> range that opens it.
    /// </summary>
    public AddressJudgement Judge(IPAddress address) =>
        RefusalWithoutAllowedNetworks(address) is { } range ? new(address, range, AllowedBy(address)) : new(address, null, null);

    IPNetwork? AllowedBy(IPAddress address)
    {
        var judged = Embedded(address).Address ?? address;
        foreach (var network in _allowed)
        {
            if (network.Contains(address) || network.Contains(judged))
            {
                return network;
            }
        }

        return null;
    }

    string? RefusalWithoutAllowedNetworks(IPAddress address)
    {
        var (embedded, form) = Embedded(address);
        var judged = embedded ?? address;
        foreach (var (network, name) in Refused)
        {
            if (network.Contains(judged))
            {
                return embedded is null ? $"in {network} ({name})" : $"the {form} form of {embedded}, in {network} ({name})";
            }
        }

        foreach (var network in _denied)
        {
            if (network.Contains(address) || network.Contains(judged))
            {
                return $"in {network} (Security:DeniedNetworks)";
            }
        }

        return judged.AddressFamily == AddressFamily.InterNetworkV6 && !GlobalUnicast.Contains(judged)
            ? $"outside {GlobalUnicast} (global unicast)"
            : null;
    }

    static (IPAddress? Address, string? Form) Embedded(IPAddress address)
    {
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return (null, null);
        }

        if (address.IsIPv4MappedToIPv6)
        {
            return (address.MapToIPv4(), "IPv4-mapped");
        }

        var bytes = address.GetAddressBytes();
        var last4 = new IPAddress(bytes.AsSpan(12, 4));
        if (Nat64.Contains(address))
        {
            return (last4, "NAT64");
        }

        if (SixToFour.Contains(address))
        {
            return (new IPAddress(bytes.AsSpan(2, 4)), "6to4");
        }

        // ::a.b.c.d (IPv4-compatible, deprecated) and ::ffff:0:a.b.c.d (IPv4-translated, SIIT); :: and ::1 are themselves.
        var compatible = bytes.AsSpan(0, 12).IndexOfAnyExcept((byte)0) < 0;
        var translated = bytes.AsSpan(0, 8).IndexOfAnyExcept((byte)0) < 0 && bytes[8] == 0xff && bytes[9] == 0xff && bytes[10] == 0 && bytes[11] == 0;
        if (compatible && !(bytes.AsSpan(12, 3).IndexOfAnyExcept((byte)0) < 0 && bytes[15] <= 1))
        {
            return (last4, "IPv4-compatible");
        }

        return translated ? (last4, "IPv4-translated") : (null, null);
    }

    /// <summary>
    /// The decision for the host of a URL as a client typed it (<c>0x7f000001</c>, <c>[::ffff:7f00:1]</c>, <c>LOCALHOST.</c>),
    /// made as the HTTP stack will see it: <see cref="Uri"/> normalises numeric and IDN spellings first.
    /// </summary>
    public HostDecision Decide(string urlHost)
    {
        if (string.IsNullOrEmpty(urlHost) || urlHost.AsSpan().IndexOfAny("/?#@\\") >= 0
            || !Uri.TryCreate($"http://{urlHost}/", UriKind.Absolute, out var uri) || uri.IdnHost.Length == 0)
        {
            return new HostDecision(HostVerdict.Invalid, urlHost, null, null);
        }

        return DecideConnectHost(uri.IdnHost);
    }

    /// <summary>The decision for a host as <see cref="SocketsHttpHandler"/> hands it to the connect callback.</summary>
    public HostDecision DecideConnectHost(string host)
    {
        if (AddressesWithoutDns(host) is not { } addresses)
        {
            return new HostDecision(HostVerdict.NeedsDns, host, null, null);
        }

        foreach (var address in addresses)
        {
            if (RefusalReason(address) is { } reason)
            {
                return new HostDecision(HostVerdict.Refused, host, address, reason);
            }
        }

        return new HostDecision(HostVerdict.Allowed, host, addresses[0], null);
    }

    /// <summary>
    /// The addresses a host stands for without asking DNS: an IP literal in any spelling the resolver would accept
    /// (brackets, <c>%25</c> zone, a trailing dot), or a <c>localhost</c> name, which always means loopback (RFC 6761)
    /// whatever a resolver says; null for a name that needs DNS.
    /// </summary>
    public static IPAddress[]? AddressesWithoutDns(string host)
    {
        var h = host;
        if (h.Length > 1 && h[0] == '[' && h[^1] == ']')
        {
            h = h[1..^1];
        }

        if (h.Contains(':'))
        {
            // A zone (%25eth0 in a URL) only names an interface: the address is judged, and connected to, without it.
            var zone = h.IndexOf('%', StringComparison.Ordinal);
            return IPAddress.TryParse(zone < 0 ? h : h[..zone], out var v6) ? [v6] : null;
        }

        if (h.EndsWith('.'))
        {
            h = h[..^1]; // "127.0.0.1." and "LOCALHOST." are fully qualified spellings of the same host
        }

        if (IPAddress.TryParse(h, out var v4))
        {
            return [v4];
        }

        return IsLocalhostName(h) ? [IPAddress.Loopback] : null;
    }

    /// <summary>
    /// Asks DNS for <paramref name="host"/>, except for a name under <c>invalid</c>: RFC 6761 asks resolver libraries to
    /// answer those "no such host" at once, without a query, and the service does (no query leaves for a name that can
    /// never exist, and the tests can produce a real <c>dns_failure</c> without sending anything off the machine).
    /// </summary>
    public static Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) =>
        IsInvalidName(host) ? Task.FromException<IPAddress[]>(new SocketException((int)SocketError.HostNotFound)) : Dns.GetHostAddressesAsync(host, cancellationToken);

    /// <summary><c>invalid</c> or a name under it (RFC 6761 §6.4), in any case, with or without the final dot.</summary>
    public static bool IsInvalidName(string host) => IsUnder(host, "invalid");

    static bool IsLocalhostName(string host) => IsUnder(host, "localhost");

    /// <summary><paramref name="host"/> is the special-use name <paramref name="zone"/> or under it, in any case, with or without the final dot.</summary>
    static bool IsUnder(string host, string zone)
    {
        var h = host.EndsWith('.') ? host[..^1] : host;
        return h.Equals(zone, StringComparison.OrdinalIgnoreCase)
            || (h.Length > zone.Length && h[^(zone.Length + 1)] == '.' && h.EndsWith(zone, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// <see cref="SocketsHttpHandler.ConnectCallback"/>: decide on the host as it stands (<see cref="DecideConnectHost"/>);
    /// a name is resolved once and every address it resolves to is checked; then connect to a checked address.
    /// </summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var decision = DecideConnectHost(host);
        IPAddress[] addresses;
        switch (decision.Verdict)
        {
            case HostVerdict.Refused:
                throw new BlockedAddressException(host, decision.Address!, decision.Reason!, literal: !IsLocalhostName(host));
            case HostVerdict.Allowed:
                addresses = [decision.Address!];
                break;
            default:
                addresses = await ResolveAsync(host, cancellationToken);
                if (addresses.Length == 0)
                {
                    throw new SocketException((int)SocketError.HostNotFound);
                }

                foreach (var address in addresses)
                {
                    if (RefusalReason(address) is { } reason)
                    {
                        throw new BlockedAddressException(host, address, reason, literal: false);
                    }
                }

                break;
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
