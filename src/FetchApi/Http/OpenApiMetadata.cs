namespace FetchApi.Http;

/// <summary>
/// The real type of a query value that a handler binds as a string (so that a bad value is a 400 naming the
/// parameter): the OpenAPI document gives this type, so generated clients take numbers, booleans and enums.
/// </summary>
[AttributeUsage(AttributeTargets.Parameter)]
public sealed class QueryTypeAttribute(Type type) : Attribute
{
    public Type Type { get; } = type;

    /// <summary>Smallest value, for integers.</summary>
    public int Minimum { get; set; } = int.MinValue;

    /// <summary>Largest value, for integers.</summary>
    public int Maximum { get; set; } = int.MaxValue;

    /// <summary>The value a missing parameter stands for, as JSON (<c>true</c>, <c>0</c>).</summary>
    public string? Default { get; set; }
}

/// <summary>Endpoint metadata: a request body example that works as shown in Swagger UI's "Try it out".</summary>
public sealed record RequestExample(string Json);

/// <summary>A tag's description in the OpenAPI document; each feature registers its own as a singleton.</summary>
public sealed record TagDescription(string Name, string Description);
