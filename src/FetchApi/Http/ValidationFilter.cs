using FluentValidation;

namespace FetchApi.Http;

/// <summary>Runs the FluentValidation validator of <typeparamref name="T"/> on the bound argument; 400 with per-field errors.</summary>
public sealed class ValidationFilter<T>(IValidator<T> validator) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        if (context.Arguments.OfType<T>().FirstOrDefault() is { } argument)
        {
            var result = await validator.ValidateAsync(argument, context.HttpContext.RequestAborted);
            if (!result.IsValid)
            {
                return Problems.Validation(new Dictionary<string, string[]>(result.ToDictionary()));
            }
        }

        return await next(context);
    }
}
