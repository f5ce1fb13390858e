using FluentValidation;
using Microsoft.Extensions.Options;

namespace FetchApi.Urls;

/// <summary>
/// The body shape of <c>POST /urls/check</c>, as for <c>POST /batches</c>: <c>urls</c> present, 1 to the batch maximum.
/// What each URL holds is never a 400 here: it is the URL's verdict.
/// </summary>
public sealed class CheckUrlsValidator : AbstractValidator<CheckUrlsRequest>
{
    public CheckUrlsValidator(IOptions<UrlLimits> limits) => RuleFor(r => r.Urls).UrlList(limits.Value, "per request");
}
