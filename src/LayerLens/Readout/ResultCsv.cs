using System.Globalization;
using System.Text;

namespace LayerLens.Readout;

/// <summary>A small tidy CSV writer for result tables; written to a temporary file and renamed, so a killed run leaves nothing half-written.</summary>
public sealed class ResultCsv
{
    readonly string[] _header;
    readonly List<string[]> _rows = new();

    public ResultCsv(params string[] header) => _header = header;

    public void Add(params object?[] values)
    {
        if (values.Length != _header.Length) throw new LayerLensException($"result row has {values.Length} values for {_header.Length} columns", ErrorKind.Internal);
        _rows.Add(values.Select(Format).ToArray());
    }

    public static string Format(object? v) => v switch
    {
        null => "",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        IFormattable x => x.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };

    static string Quote(string s) => s.IndexOfAny(new[] { ',', '"', '\n' }) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;

    public void Write(string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var sb = new StringBuilder();
        sb.AppendLine(string.Join(',', _header.Select(Quote)));
        foreach (var r in _rows) sb.AppendLine(string.Join(',', r.Select(Quote)));
        var tmp = path + ".tmp-" + Environment.ProcessId;
        File.WriteAllText(tmp, sb.ToString());
        File.Move(tmp, path, overwrite: true);
    }
}
