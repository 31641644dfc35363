using System.Globalization;
using System.Text;
using LayerLens.IO;
using Parquet;
using Parquet.Schema;

namespace LayerLens.Reports;

/// <summary>Type of a <see cref="TidyTable"/> column. Missing numbers are NaN (double) in both CSV (empty cell) and Parquet.</summary>
public enum ColumnKind { Text, Number, Integer }

/// <summary>
/// A tidy result table (one observation per row) with typed columns, written as CSV and as Parquet with the same
/// column names, both atomically. The Parquet file uses plain (non-nullable) double, int64 and UTF-8 string columns,
/// which pandas, polars and DuckDB read without options.
/// </summary>
public sealed class TidyTable
{
    readonly List<(string Name, ColumnKind Kind)> _columns;
    readonly List<object?[]> _rows = new();

    public TidyTable(params (string Name, ColumnKind Kind)[] columns)
    {
        if (columns.Length == 0) throw new LayerLensException("a table needs at least one column", ErrorKind.Internal);
        var dup = columns.GroupBy(c => c.Name).FirstOrDefault(g => g.Count() > 1);
        if (dup != null) throw new LayerLensException($"table column '{dup.Key}' is declared twice", ErrorKind.Internal);
        _columns = columns.ToList();
    }

    public IReadOnlyList<(string Name, ColumnKind Kind)> Columns => _columns;
    public int RowCount => _rows.Count;
    public IReadOnlyList<object?[]> Rows => _rows;

    public int IndexOf(string column)
    {
        int i = _columns.FindIndex(c => c.Name == column);
        if (i < 0) throw new LayerLensException($"table has no column '{column}'", ErrorKind.Internal);
        return i;
    }

    /// <summary>Adds a row; values in column order. Numbers may be any numeric type; null is missing.</summary>
    public void Add(params object?[] values)
    {
        if (values.Length != _columns.Count)
            throw new LayerLensException($"table row has {values.Length} values for {_columns.Count} columns", ErrorKind.Internal);
        var row = new object?[values.Length];
        for (int i = 0; i < values.Length; i++) row[i] = Coerce(values[i], _columns[i]);
        _rows.Add(row);
    }

    static object? Coerce(object? v, (string Name, ColumnKind Kind) c) => c.Kind switch
    {
        ColumnKind.Text => v?.ToString(),
        ColumnKind.Number => v == null ? double.NaN : Convert.ToDouble(v, CultureInfo.InvariantCulture),
        ColumnKind.Integer => v == null ? 0L : Convert.ToInt64(v, CultureInfo.InvariantCulture),
        _ => throw new ArgumentOutOfRangeException(nameof(c)),
    };

    public string Text(int row, string column) => (string?)_rows[row][IndexOf(column)] ?? "";
    public double Number(int row, string column) => Convert.ToDouble(_rows[row][IndexOf(column)], CultureInfo.InvariantCulture);

    /// <summary>Rows for which <paramref name="keep"/> holds, as a new table with the same columns.</summary>
    public TidyTable Where(Func<object?[], bool> keep)
    {
        var t = new TidyTable(_columns.ToArray());
        foreach (var r in _rows) if (keep(r)) t._rows.Add(r);
        return t;
    }

    public static string FormatCell(object? v) => v switch
    {
        null => "",
        double d when double.IsNaN(d) => "",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        float f when float.IsNaN(f) => "",
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        IFormattable x => x.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };

    static string Quote(string s) =>
        s.IndexOfAny(new[] { ',', '"', '\n', '\r' }) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;

    public string ToCsv()
    {
        var sb = new StringBuilder();
        sb.Append(string.Join(',', _columns.Select(c => Quote(c.Name)))).Append('\n');
        foreach (var r in _rows) sb.Append(string.Join(',', r.Select(v => Quote(FormatCell(v))))).Append('\n');
        return sb.ToString();
    }

    public void WriteCsv(string path) => AtomicFile.WriteAllText(path, ToCsv());

    public void WriteParquet(string path) => AtomicFile.Write(path, stream => WriteParquetAsync(stream).GetAwaiter().GetResult());

    async Task WriteParquetAsync(Stream stream)
    {
        var fields = _columns.Select(c => c.Kind switch
        {
            ColumnKind.Text => (DataField)new DataField<string>(c.Name),
            ColumnKind.Number => new DataField<double>(c.Name),
            _ => new DataField<long>(c.Name),
        }).ToArray();
        await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), stream);
        using var group = writer.CreateRowGroup();
        for (int c = 0; c < _columns.Count; c++)
        {
            switch (_columns[c].Kind)
            {
                case ColumnKind.Text:
                    await group.WriteAsync(fields[c], _rows.Select(r => (string?)r[c] ?? "").ToArray(), null);
                    break;
                case ColumnKind.Number:
                    await group.WriteAsync<double>(fields[c], _rows.Select(r => (double)r[c]!).ToArray(), null, null, default);
                    break;
                default:
                    await group.WriteAsync<long>(fields[c], _rows.Select(r => (long)r[c]!).ToArray(), null, null, default);
                    break;
            }
        }
    }

    /// <summary>Reads a Parquet file written by <see cref="WriteParquet"/> (flat string, double and int64 columns).</summary>
    public static TidyTable ReadParquet(string path) => ReadParquetAsync(path).GetAwaiter().GetResult();

    static async Task<TidyTable> ReadParquetAsync(string path)
    {
        await using var reader = await ParquetReader.CreateAsync(path);
        var fields = reader.Schema.GetDataFields();
        var kinds = fields.Select(f => f.ClrType == typeof(string) || f.ClrType == typeof(ReadOnlyMemory<char>) ? ColumnKind.Text
            : f.ClrType == typeof(long) ? ColumnKind.Integer
            : f.ClrType == typeof(double) ? ColumnKind.Number
            : throw new LayerLensException($"{path}: column '{f.Name}' has type {f.ClrType.Name}; only text, double and int64 columns are read", ErrorKind.BadInput)).ToArray();
        var table = new TidyTable(fields.Select((f, i) => (f.Name, kinds[i])).ToArray());
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            int n = checked((int)group.RowCount);
            var cols = new Array[fields.Length];
            for (int c = 0; c < fields.Length; c++)
            {
                switch (kinds[c])
                {
                    case ColumnKind.Text: { var a = new string?[n]; await group.ReadAsync(fields[c], a.AsMemory(), null, default); cols[c] = a; break; }
                    case ColumnKind.Number: { var a = new double[n]; await group.ReadAsync<double>(fields[c], a.AsMemory(), null, default); cols[c] = a; break; }
                    default: { var a = new long[n]; await group.ReadAsync<long>(fields[c], a.AsMemory(), null, default); cols[c] = a; break; }
                }
            }
            for (int i = 0; i < n; i++) table.Add(cols.Select(a => a.GetValue(i)).ToArray());
        }
        return table;
    }
}
