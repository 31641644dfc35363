using System.Globalization;
using System.Text.RegularExpressions;
using LayerLens.Datasets;

namespace LayerLens.Quality.Datasets;

/// <summary>One rated pair of a full-reference IQA set: image paths, the human score, and what was done.</summary>
public sealed record IqaPair(string Reference, string Distorted, double Score, string? DistortionType = null, int? Level = null);

/// <summary>
/// A full-reference image-quality set. <see cref="HigherScoreIsBetter"/> records whether scores are MOS-like
/// (TID2013, KADID-10k) or DMOS-like (CSIQ, LIVE), so evaluation can orient every correlation.
/// </summary>
public sealed record IqaDataset(string Name, IReadOnlyList<IqaPair> Pairs, bool HigherScoreIsBetter)
{
    /// <summary>Opens "tid2013:DIR", "kadid:DIR", "csiq:DIR", "live:DIR" or "csv:FILE".</summary>
    public static IqaDataset Open(string spec)
    {
        int colon = spec.IndexOf(':');
        if (colon <= 0)
            throw new LayerLensException($"dataset '{spec}' must be KIND:PATH with KIND one of tid2013, kadid, csiq, live, csv", ErrorKind.Usage);
        var kind = spec[..colon].ToLowerInvariant();
        var path = spec[(colon + 1)..];
        return kind switch
        {
            "tid2013" or "tid" => IqaDatasets.Tid2013(path),
            "kadid" or "kadid10k" or "kadid-10k" => IqaDatasets.Kadid10k(path),
            "csiq" => IqaDatasets.Csiq(path),
            "live" => IqaDatasets.Live(path),
            "csv" => IqaDatasets.Csv(path),
            _ => throw new LayerLensException($"unknown dataset kind '{kind}' in '{spec}' (expected tid2013, kadid, csiq, live or csv)", ErrorKind.Usage),
        };
    }
}

/// <summary>Readers of the published IQA sets' own file layouts; every error names the file and line.</summary>
public static partial class IqaDatasets
{
    /// <summary>TID2013: <c>mos_with_names.txt</c> ("MOS name" per line), <c>reference_images/IXX.BMP</c>,
    /// <c>distorted_images/iXX_DD_L.bmp</c>; type DD (1–24) and level L (1–5) come from the name.</summary>
    public static IqaDataset Tid2013(string dir)
    {
        var list = Path.Combine(RequireDir(dir, "TID2013"), "mos_with_names.txt");
        var lines = ReadLines(list);
        var refs = Path.Combine(dir, "reference_images");
        var dists = Path.Combine(dir, "distorted_images");
        var pairs = new List<IqaPair>();
        var files = new FolderIndex();
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0) continue;
            var parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2 || !TryNumber(parts[0], out var mos))
                throw new LayerLensException($"{list}:{i + 1}: expected 'MOS image-name', got '{line}'", ErrorKind.BadInput);
            var m = TidName().Match(parts[1]);
            if (!m.Success)
                throw new LayerLensException($"{list}:{i + 1}: image name '{parts[1]}' is not of the form iXX_DD_L.ext", ErrorKind.BadInput);
            var refId = m.Groups[1].Value;
            pairs.Add(new IqaPair(
                files.Resolve(refs, $"I{refId}", list, i + 1),
                files.Resolve(dists, Path.GetFileNameWithoutExtension(parts[1]), list, i + 1, Path.GetExtension(parts[1])),
                mos, m.Groups[2].Value, int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture)));
        }
        return NonEmpty(new IqaDataset("tid2013", pairs, HigherScoreIsBetter: true), list);
    }

    /// <summary>KADID-10k: <c>dmos.csv</c> (dist_img, ref_img, dmos, var) and <c>images/</c>. Despite its name
    /// the column is a mean opinion score on 1–5 where higher means better quality.</summary>
    public static IqaDataset Kadid10k(string dir)
    {
        var csv = Path.Combine(RequireDir(dir, "KADID-10k"), "dmos.csv");
        var rows = Rows(csv, out var header);
        int di = Column(header, csv, "dist_img"), ri = Column(header, csv, "ref_img"), si = Column(header, csv, "dmos");
        var images = Path.Combine(dir, "images");
        var pairs = new List<IqaPair>();
        var files = new FolderIndex();
        foreach (var row in rows)
        {
            var dist = Field(row, di, csv);
            var m = KadidName().Match(dist);
            pairs.Add(new IqaPair(
                files.Resolve(images, Path.GetFileNameWithoutExtension(Field(row, ri, csv)), csv, row.Line, Path.GetExtension(Field(row, ri, csv))),
                files.Resolve(images, Path.GetFileNameWithoutExtension(dist), csv, row.Line, Path.GetExtension(dist)),
                Number(row, si, csv),
                m.Success ? m.Groups[2].Value : null,
                m.Success ? int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture) : null));
        }
        return NonEmpty(new IqaDataset("kadid10k", pairs, HigherScoreIsBetter: true), csv);
    }

    /// <summary>
    /// CSIQ: the "all_by_image" sheet of csiq.DMOS.xlsx saved as <c>csiq_dmos.csv</c> (columns image, dst_type,
    /// dst_lev, dmos), <c>src_imgs/IMAGE.png</c> and <c>dst_imgs/FOLDER/IMAGE.TYPE.LEVEL.png</c>. DMOS: higher is worse.
    /// </summary>
    public static IqaDataset Csiq(string dir)
    {
        var csv = Path.Combine(RequireDir(dir, "CSIQ"), "csiq_dmos.csv");
        var rows = Rows(csv, out var header);
        int ii = Column(header, csv, "image"), ti = Column(header, csv, "dst_type"), li = Column(header, csv, "dst_lev"), si = Column(header, csv, "dmos");
        var pairs = new List<IqaPair>();
        var files = new FolderIndex();
        foreach (var row in rows)
        {
            var image = Field(row, ii, csv);
            var type = Field(row, ti, csv).Trim().ToLowerInvariant();
            var (folder, tag) = type switch
            {
                "noise" or "awgn" => ("awgn", "AWGN"),
                "jpeg" => ("jpeg", "JPEG"),
                "jpeg 2000" or "jpeg2000" => ("jpeg2000", "jpeg2000"),
                "fnoise" => ("fnoise", "fnoise"),
                "blur" => ("blur", "BLUR"),
                "contrast" => ("contrast", "contrast"),
                _ => throw new LayerLensException($"{csv}:{row.Line}: unknown CSIQ distortion type '{type}'", ErrorKind.BadInput),
            };
            int level = (int)Number(row, li, csv);
            pairs.Add(new IqaPair(
                files.Resolve(Path.Combine(dir, "src_imgs"), image, csv, row.Line, ".png"),
                files.Resolve(Path.Combine(dir, "dst_imgs", folder), $"{image}.{tag}.{level}", csv, row.Line, ".png"),
                Number(row, si, csv), folder, level));
        }
        return NonEmpty(new IqaDataset("csiq", pairs, HigherScoreIsBetter: false), csv);
    }

    /// <summary>
    /// A generic CSV: columns ref, dist and a score column named mos or score (higher is better) or dmos
    /// (higher is worse); optional type and level. Paths are relative to the CSV's folder.
    /// </summary>
    public static IqaDataset Csv(string file)
    {
        var rows = Rows(file, out var header);
        int ri = Column(header, file, "ref", "reference", "ref_img"), di = Column(header, file, "dist", "distorted", "dist_img");
        int si = Optional(header, "mos", "score", "dmos");
        if (si < 0)
            throw new LayerLensException($"{file}:1: no score column (expected one named mos, score or dmos)", ErrorKind.BadInput);
        bool higherBetter = !header[si].Equals("dmos", StringComparison.OrdinalIgnoreCase);
        int ti = Optional(header, "type", "distortion", "dst_type"), li = Optional(header, "level", "dst_lev");
        var root = Path.GetDirectoryName(Path.GetFullPath(file))!;
        var pairs = new List<IqaPair>();
        var files = new FolderIndex();
        foreach (var row in rows)
        {
            int? level = null;
            if (li >= 0 && Field(row, li, file).Trim().Length > 0) level = (int)Number(row, li, file);
            pairs.Add(new IqaPair(
                Existing(root, Field(row, ri, file), file, row.Line),
                Existing(root, Field(row, di, file), file, row.Line),
                Number(row, si, file),
                ti >= 0 && Field(row, ti, file).Trim().Length > 0 ? Field(row, ti, file).Trim() : null,
                level));
        }
        return NonEmpty(new IqaDataset(Path.GetFileNameWithoutExtension(file), pairs, higherBetter), file);
    }

    [GeneratedRegex(@"^[iI](\d+)_(\d+)_(\d+)\.\w+$")]
    private static partial Regex TidName();
    [GeneratedRegex(@"^[iI](\d+)_(\d+)_(\d+)\.\w+$")]
    private static partial Regex KadidName();

    internal static string RequireDir(string dir, string what) =>
        Directory.Exists(dir) ? dir : throw new LayerLensException($"{what} folder '{dir}' does not exist", ErrorKind.BadInput);

    internal static string[] ReadLines(string file)
    {
        if (!File.Exists(file)) throw new LayerLensException($"{file}: file not found", ErrorKind.BadInput);
        return File.ReadAllLines(file);
    }

    internal static List<DelimitedReader.Row> Rows(string file, out string[] header)
    {
        if (!File.Exists(file)) throw new LayerLensException($"{file}: file not found", ErrorKind.BadInput);
        var rows = DelimitedReader.Read(file).Where(r => r.Fields.Any(f => f.Trim().Length > 0)).ToList();
        if (rows.Count == 0) throw new LayerLensException($"{file}: empty file", ErrorKind.BadInput);
        header = rows[0].Fields.Select(f => f.Trim()).ToArray();
        return rows.Skip(1).ToList();
    }

    internal static int Column(string[] header, string file, params string[] names)
    {
        int i = Optional(header, names);
        return i >= 0 ? i : throw new LayerLensException($"{file}:1: no column named {string.Join(" or ", names)} (header: {string.Join(",", header)})", ErrorKind.BadInput);
    }

    static int Optional(string[] header, params string[] names)
    {
        foreach (var n in names)
        {
            int i = Array.FindIndex(header, h => h.Equals(n, StringComparison.OrdinalIgnoreCase));
            if (i >= 0) return i;
        }
        return -1;
    }

    internal static string Field(DelimitedReader.Row row, int index, string file) =>
        index < row.Fields.Count ? row.Fields[index] : throw new LayerLensException($"{file}:{row.Line}: expected at least {index + 1} fields, got {row.Fields.Count}", ErrorKind.BadInput);

    internal static double Number(DelimitedReader.Row row, int index, string file)
    {
        var text = Field(row, index, file).Trim();
        return TryNumber(text, out var v) ? v : throw new LayerLensException($"{file}:{row.Line}: '{text}' is not a finite number", ErrorKind.BadInput);
    }

    static bool TryNumber(string text, out double v) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out v) && double.IsFinite(v);

    internal static string Existing(string root, string relative, string listFile, int line)
    {
        var p = Path.GetFullPath(Path.Combine(root, relative.Trim()));
        return File.Exists(p) ? p : throw new LayerLensException($"{listFile}:{line}: image '{relative}' not found", ErrorKind.BadInput);
    }

    static IqaDataset NonEmpty(IqaDataset d, string file) =>
        d.Pairs.Count > 0 ? d : throw new LayerLensException($"{file}: no image pairs listed", ErrorKind.BadInput);
}

/// <summary>
/// Finds STEM.ext in a folder ignoring case (the sets mix I01.BMP and i01_01_1.bmp). One instance per load, so
/// each folder is listed once instead of once per pair.
/// </summary>
internal sealed class FolderIndex
{
    readonly Dictionary<string, (Dictionary<string, string> ByName, Dictionary<string, string> ByStem)> _listings = new(StringComparer.Ordinal);

    public string Resolve(string folder, string stem, string listFile, int line, string? ext = null)
    {
        var (byName, byStem) = Listing(folder);
        if (ext is { Length: > 0 } && byName.TryGetValue(stem + ext, out var exact)) return exact;
        if (byStem.TryGetValue(stem, out var found)) return found;
        throw new LayerLensException($"{listFile}:{line}: image '{stem}{ext}' not found in {folder}", ErrorKind.BadInput);
    }

    (Dictionary<string, string>, Dictionary<string, string>) Listing(string folder)
    {
        var full = Path.GetFullPath(folder);
        if (_listings.TryGetValue(full, out var l)) return l;
        var byName = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var byStem = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (Directory.Exists(full))
            foreach (var f in Directory.EnumerateFiles(full).Order(StringComparer.Ordinal))
            {
                byName.TryAdd(Path.GetFileName(f), f);
                byStem.TryAdd(Path.GetFileNameWithoutExtension(f), f);
            }
        return _listings[full] = (byName, byStem);
    }
}
