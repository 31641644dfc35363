using System.Text.RegularExpressions;

namespace LayerLens.Models;

/// <summary>
/// Chooses layers by a comma-separated list of terms: <c>all</c>, exact names, globs (<c>*</c>, <c>?</c>),
/// <c>op:Relu</c> (op type, also globbed), <c>depth:0.5-1</c> (relative depth range) and <c>outputs</c>.
/// A term that matches nothing is an error naming it, so typos never pass silently.
/// </summary>
public sealed class LayerSelector
{
    readonly List<(string Term, Func<LayerInfo, bool> Match)> _terms = new();

    LayerSelector() { }

    public static LayerSelector All { get; } = Parse("all");

    public string Text { get; private set; } = "";

    public static LayerSelector Parse(string text)
    {
        var sel = new LayerSelector { Text = text };
        foreach (var raw in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (raw == "all") { sel._terms.Add((raw, _ => true)); continue; }
            if (raw.StartsWith("op:", StringComparison.OrdinalIgnoreCase))
            {
                var rx = GlobToRegex(raw[3..], RegexOptions.IgnoreCase);
                sel._terms.Add((raw, l => rx.IsMatch(l.OpType)));
                continue;
            }
            if (raw.StartsWith("depth:", StringComparison.OrdinalIgnoreCase))
            {
                var parts = raw[6..].Split('-');
                if (parts.Length != 2 || !double.TryParse(parts[0], System.Globalization.CultureInfo.InvariantCulture, out var lo)
                    || !double.TryParse(parts[1], System.Globalization.CultureInfo.InvariantCulture, out var hi))
                    throw new LayerLensException($"layer selector '{raw}': expected depth:LOW-HIGH such as depth:0.5-1", ErrorKind.Usage);
                sel._terms.Add((raw, l => l.RelativeDepth >= lo && l.RelativeDepth <= hi));
                continue;
            }
            if (raw.Contains('*') || raw.Contains('?'))
            {
                var rx = GlobToRegex(raw, RegexOptions.None);
                sel._terms.Add((raw, l => rx.IsMatch(l.Name)));
                continue;
            }
            var exact = raw;
            sel._terms.Add((raw, l => l.Name == exact));
        }
        if (sel._terms.Count == 0)
            throw new LayerLensException("empty layer selector (use all, names, globs or op:TYPE)", ErrorKind.Usage);
        return sel;
    }

    /// <summary>The layers chosen, in graph order; throws when a term matches no layer.</summary>
    public IReadOnlyList<LayerInfo> Select(IReadOnlyList<LayerInfo> layers)
    {
        foreach (var (term, match) in _terms)
            if (!layers.Any(match))
                throw new LayerLensException($"layer selector '{term}' matches no layer of the model (see `layerlens layers MODEL`)", ErrorKind.BadInput);
        return layers.Where(l => _terms.Any(t => t.Match(l))).ToList();
    }

    static Regex GlobToRegex(string glob, RegexOptions options) =>
        new("^" + Regex.Escape(glob).Replace("\\*", ".*").Replace("\\?", ".") + "$", options | RegexOptions.CultureInvariant);

    public override string ToString() => Text;
}
