using System.Text;

namespace LayerLens.Datasets;

/// <summary>
/// Reads CSV/TSV (RFC 4180 quoting, quoted fields may span lines) and reports each record with the
/// line it starts on, so that errors can name file and line.
/// </summary>
public static class DelimitedReader
{
    public sealed record Row(int Line, IReadOnlyList<string> Fields);

    /// <summary>Guesses the separator from the file name (.tsv/.tab → tab) or the header line.</summary>
    public static char GuessSeparator(string path, string headerLine)
    {
        var ext = Path.GetExtension(path).ToLowerInvariant();
        if (ext is ".tsv" or ".tab") return '\t';
        if (headerLine.Contains('\t') && !headerLine.Contains(',')) return '\t';
        if (headerLine.Contains(';') && !headerLine.Contains(',')) return ';';
        return ',';
    }

    public static IEnumerable<Row> Read(string path, char? separator = null)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
        {
            throw new LayerLensException($"{path}: cannot read ({e.Message})", ErrorKind.BadInput, e);
        }
        if (text.Length > 0 && text[0] == '\uFEFF') text = text[1..];
        char sep = separator ?? GuessSeparator(path, text.Split('\n', 2)[0]);
        return Parse(text, sep, path);
    }

    static IEnumerable<Row> Parse(string text, char sep, string path)
    {
        int line = 1, i = 0;
        while (i < text.Length)
        {
            int start = line;
            var fields = new List<string>();
            var field = new StringBuilder();
            bool endOfRecord = false;
            while (!endOfRecord)
            {
                if (i < text.Length && text[i] == '"')
                {
                    i++;
                    while (true)
                    {
                        if (i >= text.Length) throw new LayerLensException($"{path}:{start}: a quoted field is not closed", ErrorKind.BadInput);
                        char c = text[i++];
                        if (c == '"')
                        {
                            if (i < text.Length && text[i] == '"') { field.Append('"'); i++; }
                            else break;
                        }
                        else
                        {
                            if (c == '\n') line++;
                            field.Append(c);
                        }
                    }
                }
                while (i < text.Length && text[i] != sep && text[i] != '\n' && text[i] != '\r') field.Append(text[i++]);
                fields.Add(field.ToString());
                field.Clear();
                if (i >= text.Length) endOfRecord = true;
                else if (text[i] == sep) i++;
                else
                {
                    if (text[i] == '\r') i++;
                    if (i < text.Length && text[i] == '\n') i++;
                    line++;
                    endOfRecord = true;
                }
            }
            if (fields.Count == 1 && fields[0].Trim().Length == 0) continue; // blank line
            yield return new Row(start, fields);
        }
    }
}
