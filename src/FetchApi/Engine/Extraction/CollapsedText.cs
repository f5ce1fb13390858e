using System.Text;

namespace FetchApi.Engine.Extraction;

/// <summary>
/// Text with every run of whitespace (and every break between blocks) turned into one space, none at either end, and
/// at most <c>maxBytes</c> bytes once encoded as UTF-8: the first character that does not fit ends it, so it is cut
/// between characters, never inside one.
/// </summary>
sealed class CollapsedText(long maxBytes)
{
    readonly StringBuilder _text = new();
    long _bytes;
    bool _space;

    /// <summary>Whether a character did not fit: nothing more is taken.</summary>
    public bool Full { get; private set; }

    /// <summary>A boundary between blocks: a space before whatever text follows.</summary>
    public void Break() => _space = _text.Length > 0;

    public void Append(string value)
    {
        Span<char> utf16 = stackalloc char[2];
        // Runes, not chars: a surrogate pair is one character of four UTF-8 bytes (a lone surrogate reads as U+FFFD).
        foreach (var rune in value.EnumerateRunes())
        {
            if (Rune.IsWhiteSpace(rune))
            {
                _space = _text.Length > 0;
                continue;
            }

            var size = (_space ? 1 : 0) + rune.Utf8SequenceLength;
            if (_bytes + size > maxBytes)
            {
                Full = true;
                return;
            }

            if (_space)
            {
                _text.Append(' ');
                _space = false;
            }

            _text.Append(utf16[..rune.EncodeToUtf16(utf16)]);
            _bytes += size;
        }
    }

    public override string ToString() => _text.ToString();
}
