using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using FetchApi.Model;
using FetchApi.Security;
using Polly.Timeout;

namespace FetchApi.Engine;

/// <summary>A failure we detect ourselves (body cap, redirect limit) and that is never retried.</summary>
public sealed class FetchFailureException(FetchErrorCode code, string message) : Exception(message)
{
    public FetchErrorCode Code { get; } = code;
}

/// <summary>Turns the exceptions of a fetch into the stable error codes of the API.</summary>
public static class FetchErrors
{
    /// <summary>Codes worth another attempt: the next one may well succeed.</summary>
    public static bool IsTransient(FetchErrorCode code) =>
        code is FetchErrorCode.ConnectionRefused or FetchErrorCode.ConnectionReset or FetchErrorCode.Timeout;

    public static FetchError Classify(Exception exception, double timeoutSeconds)
    {
        var chain = new List<Exception>();
        for (var e = exception; e is not null; e = e.InnerException)
        {
            chain.Add(e);
        }

        // The most specific cause wins, wherever it sits in the chain.
        foreach (var e in chain)
        {
            switch (e)
            {
                case FetchFailureException f:
                    return new FetchError(f.Code, f.Message);
                case BlockedAddressException b:
                    return new FetchError(FetchErrorCode.BlockedAddress, b.Message);
                case TimeoutRejectedException:
                    return new FetchError(FetchErrorCode.Timeout, $"no complete response within {timeoutSeconds:0.###} s");
                case TimeoutException:
                    return new FetchError(FetchErrorCode.Timeout, "could not connect within the connect timeout");
                case AuthenticationException a:
                    return new FetchError(FetchErrorCode.TlsError, $"TLS handshake failed: {a.Message}");
            }
        }

        foreach (var e in chain)
        {
            if (e is SocketException s)
            {
                return s.SocketErrorCode switch
                {
                    SocketError.HostNotFound or SocketError.TryAgain or SocketError.NoData or SocketError.NoRecovery =>
                        new FetchError(FetchErrorCode.DnsFailure, $"could not resolve the host: {s.Message}"),
                    SocketError.ConnectionRefused => new FetchError(FetchErrorCode.ConnectionRefused, "the server refused the connection"),
                    SocketError.TimedOut => new FetchError(FetchErrorCode.Timeout, "the connection timed out"),
                    SocketError.NetworkUnreachable or SocketError.HostUnreachable =>
                        new FetchError(FetchErrorCode.ConnectionRefused, $"no route to the server: {s.Message}"),
                    _ => new FetchError(FetchErrorCode.ConnectionReset, $"the connection broke: {s.Message}"),
                };
            }
        }

        foreach (var e in chain)
        {
            var error = e switch
            {
                HttpIOException io => (HttpRequestError?)io.HttpRequestError,
                HttpRequestException h => h.HttpRequestError,
                _ => null,
            };
            switch (error)
            {
                case HttpRequestError.NameResolutionError:
                    return new FetchError(FetchErrorCode.DnsFailure, e.Message);
                case HttpRequestError.SecureConnectionError:
                    return new FetchError(FetchErrorCode.TlsError, e.Message);
                case HttpRequestError.ConnectionError:
                    return new FetchError(FetchErrorCode.ConnectionRefused, e.Message);
                case HttpRequestError.ResponseEnded:
                    return new FetchError(FetchErrorCode.ProtocolError, $"the response ended before its declared end: {e.Message}");
                case HttpRequestError.ConfigurationLimitExceeded:
                    return new FetchError(FetchErrorCode.ProtocolError, $"the response exceeded a limit (headers too large?): {e.Message}");
                case HttpRequestError.HttpProtocolError or HttpRequestError.InvalidResponse or HttpRequestError.VersionNegotiationError
                    or HttpRequestError.UserAuthenticationError:
                    return new FetchError(FetchErrorCode.ProtocolError, e.Message);
            }
        }

        if (chain.Any(e => e is IOException))
        {
            return new FetchError(FetchErrorCode.ConnectionReset, $"the connection broke: {exception.Message}");
        }

        return new FetchError(FetchErrorCode.InternalError, $"{exception.GetType().Name}: {exception.Message}");
    }

    public static bool IsRetryableStatus(HttpStatusCode status) => (int)status is 408 or 429 or 500 or 502 or 503 or 504;
}
