namespace FetchApi.Model;

/// <summary>The service refuses to start, for a reason an operator must act on; the message says what and how.</summary>
public sealed class StartupRefusedException(string message) : Exception(message);
