using System.Text;

namespace FetchApi.Engine.Extraction;

/// <summary>
/// Text with every run of whitespace (and every break between blocks) turned into one space, none at either end, and
/// at most <c>maxBytes</c> bytes once encoded as UTF-8; a character that would not fit ends it (never half a pair).
/// </summary>
sealed class CollapsedText(long maxBytes)
{
    readonly StringBuilder _text = new();
    long _bytes;
    bool _space;

    /// <summary>Whether the next character did not fit: nothing more is taken.</summary>
    public bool Full { get; private set; }

    /// <summary>A boundary between blocks: a space before whatever text follows.</summary>
    public void Break() => _space = _text.Length > 0;

    public void Append(string value)
    {
        for (var i = 0; i < value.Length && !Full; i++)
        {
            var c = value[i];
            if (char.IsWhiteSpace(c))
            {
                _space = _text.Length > 0;
                continue;
            }

            var pair = char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]);
            // A lone surrogate is written as U+FFFD: three bytes, like any other character from U+0800 on.
            var size = pair ? 4 : c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
            var space = _space ? 1 : 0;
            if (_bytes + space + size > maxBytes)
            {
                Full = true;
                return;
            }

            if (_space)
            {
                _text.Append(' ');
                _space = false;
            }

            _text.Append(c);
            if (pair)
            {
                _text.Append(value[++i]);
            }

            _bytes += space + size;
        }
    }

    public override string ToString() => _text.ToString();
}
