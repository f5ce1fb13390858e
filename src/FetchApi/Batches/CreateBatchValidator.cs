using System.Buffers;
using FetchApi.Model;
using FetchApi.Urls;
using FluentValidation;
using FluentValidation.Results;
using Microsoft.Extensions.Options;

namespace FetchApi.Batches;

/// <summary>Every rule of <c>POST /batches</c>. Errors are keyed by JSON field: <c>urls[3]</c>, <c>options.maxAttempts</c>.</summary>
public sealed class CreateBatchValidator : AbstractValidator<CreateBatchRequest>
{
    public CreateBatchValidator(IOptions<BatchLimits> options)
    {
        var limits = options.Value;
        var urls = limits.UrlLimits();
        RuleFor(r => r.Urls).UrlList(urls, "per batch");

        // One rule over the list, not RuleForEach: FluentValidation builds a child context and the "urls[i]" name for
        // every element, which was most of a 20,000-URL POST's validation CPU (issue 16). Errors are keyed the same way.
        RuleFor(r => r.Urls)
            .Custom((list, context) =>
            {
                for (var i = 0; i < list!.Count; i++)
                {
                    if (UrlRules.Problem(list[i], limits.MaxUrlLength) is { } problem)
                    {
                        context.AddFailure($"urls[{i}]", problem);
                    }
                }
            })
            .When(r => urls.Admits(r.Urls));

        RuleFor(r => r.Options!).SetValidator(new BatchOptionsValidator(limits)).When(r => r.Options is not null);

        RuleFor(r => r.Callback!.Url)
            .Custom((url, context) =>
            {
                if (UrlRules.Problem(url, limits.MaxUrlLength) is { } problem)
                {
                    context.AddFailure("callback.url", problem);
                }
            })
            .When(r => r.Callback is not null);
        RuleFor(r => r.Callback!.Secret)
            .Cascade(CascadeMode.Stop)
            .NotEmpty().WithMessage("'callback.secret' is required: the callback is signed with it.")
            .Length(16, 256).WithMessage("'callback.secret' must be 16 to 256 characters long.")
            .OverridePropertyName("callback.secret")
            .When(r => r.Callback is not null);
    }
}

public sealed class BatchOptionsValidator : AbstractValidator<BatchOptionsRequest>
{
    /// <summary>Largest <c>perHostRequestsPerSecond</c> a batch may name.</summary>
    public const double MaxRequestsPerSecond = 100_000;

    // Hop-by-hop and framing headers are ours to set; cookies are credentials we refuse to store.
    static readonly HashSet<string> ForbiddenHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "Host", "Content-Length", "Connection", "Transfer-Encoding", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization",
        "Proxy-Authenticate", "TE", "Trailer", "Upgrade", "Expect", "Cookie", "Cookie2", "Set-Cookie", "Content-Encoding",
    };

    static readonly SearchValues<char> TokenChars =
        SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    const int MaxHeaders = 50;
    const int MaxHeaderValueLength = 8192;

    public BatchOptionsValidator(BatchLimits limits)
    {
        RuleFor(o => o.Concurrency).InclusiveBetween(1, limits.MaxConcurrency).When(o => o.Concurrency is not null);
        RuleFor(o => o.TimeoutSeconds)
            .GreaterThan(0)
            .LessThanOrEqualTo(limits.MaxTimeout.TotalSeconds)
            .When(o => o.TimeoutSeconds is not null);
        RuleFor(o => o.MaxAttempts).InclusiveBetween(1, limits.MaxAttemptsLimit).When(o => o.MaxAttempts is not null);
        RuleFor(o => o.Method)
            .Must(m => m!.Equals("GET", StringComparison.OrdinalIgnoreCase) || m.Equals("HEAD", StringComparison.OrdinalIgnoreCase))
            .WithMessage("'method' must be GET or HEAD.")
            .When(o => o.Method is not null);
        RuleFor(o => o.PerHostRequestsPerSecond)
            .Must(r => r is > 0 and <= MaxRequestsPerSecond && double.IsFinite(r.Value))
            .WithMessage($"'perHostRequestsPerSecond' must be more than 0 and at most {MaxRequestsPerSecond} (the service's ceiling, Engine:PerHostRequestsPerSecond, applies too).")
            .When(o => o.PerHostRequestsPerSecond is not null);
        RuleFor(o => o.MaxBodyBytes).InclusiveBetween(0, limits.MaxBodyBytesLimit).When(o => o.MaxBodyBytes is not null);
        RuleFor(o => o.MaxRedirects).InclusiveBetween(0, limits.MaxRedirectsLimit).When(o => o.MaxRedirects is not null);
        RuleFor(o => o.Headers)
            .Must(h => h!.Count <= MaxHeaders).WithMessage($"At most {MaxHeaders} headers are allowed.")
            .When(o => o.Headers is not null);
        RuleFor(o => o.Headers)
            .Custom((headers, context) =>
            {
                foreach (var (name, value) in headers!)
                {
                    if (HeaderProblem(name, value) is { } problem)
                    {
                        context.AddFailure(new ValidationFailure($"{context.PropertyPath}.{name}", problem) { AttemptedValue = value });
                    }
                }
            })
            .When(o => o.Headers is not null);
        RuleForEach(o => o.Extract)
            .Must(name => ExtractFieldJson.TryParse(name, out _))
            .WithMessage((_, name) => name is null
                ? $"must be one of {string.Join(", ", ExtractFieldJson.Names)}."
                : $"'{name}' cannot be extracted; use {string.Join(", ", ExtractFieldJson.Names)}.")
            .When(o => o.Extract is not null);
        RuleFor(o => o.Extract)
            .Must(e => e!.Count == 0)
            .WithMessage("HEAD responses have no body to extract from; use GET, or leave 'extract' out.")
            .When(o => o.Extract is not null && "HEAD".Equals(o.Method, StringComparison.OrdinalIgnoreCase));
    }

    static string? HeaderProblem(string name, string? value)
    {
        if (name.Length == 0 || name.AsSpan().ContainsAnyExcept(TokenChars))
        {
            return "is not a valid header name.";
        }

        if (ForbiddenHeaders.Contains(name))
        {
            return $"'{name}' is set by the fetcher or is a credential we do not store; it cannot be sent.";
        }

        if (value is null)
        {
            return "must have a string value.";
        }

        if (value.Length > MaxHeaderValueLength)
        {
            return $"is longer than {MaxHeaderValueLength} characters.";
        }

        return value.Any(c => c is '\r' or '\n' or '\0' || (char.IsControl(c) && c != '\t'))
            ? "must not contain CR, LF, NUL or other control characters."
            : null;
    }
}
