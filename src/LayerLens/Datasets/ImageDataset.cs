using System.Globalization;
using LayerLens.Images;

namespace LayerLens.Datasets;

/// <summary>One image of a dataset: a stable id (path relative to the dataset root, '/'-separated),
/// where the file is, and the dataset's other columns for it (label, score, ...).</summary>
public sealed record ImageItem(string Id, string Path, IReadOnlyDictionary<string, string> Columns)
{
    /// <summary>Where the item was declared ("manifest.csv:12"), for error messages.</summary>
    public string Origin { get; init; } = "";
}

/// <summary>Which kind of listing a dataset was read from.</summary>
public enum DatasetKind { Folder, Manifest, LaMemSplit, MemCat }

/// <summary>
/// An ordered list of images with stable ids. Built from an image folder (class subfolders become
/// <c>label</c>), a CSV/TSV manifest, a LaMem split file or MemCat's CSV. Problems in the listing are
/// reported with file and line.
/// </summary>
public sealed class ImageDataset
{
    ImageDataset(string root, string source, DatasetKind kind, IReadOnlyList<ImageItem> items, IReadOnlyList<string> columns)
    {
        Root = root;
        Source = source;
        Kind = kind;
        Items = items;
        Columns = columns;
    }

    /// <summary>The directory ids are relative to.</summary>
    public string Root { get; }
    /// <summary>The folder or file the dataset was read from.</summary>
    public string Source { get; }
    public DatasetKind Kind { get; }
    public IReadOnlyList<ImageItem> Items { get; }
    /// <summary>Column names besides the path (e.g. label, score).</summary>
    public IReadOnlyList<string> Columns { get; }
    public int Count => Items.Count;

    /// <summary>Column names recognised as an image path in manifests, in order of preference.</summary>
    public static readonly string[] PathColumnNames = { "path", "image_path", "filepath", "file", "filename", "image", "image_file", "img", "image_name", "dist_img" };

    /// <summary>Column names whose values must be numbers (checked when the manifest is read).</summary>
    public static readonly string[] ScoreColumnNames = { "score", "memorability", "memorability_score", "memorability_w_fa_correction", "mos", "dmos", "valence", "arousal" };

    /// <summary>Opens a folder, a LaMem split file (.txt) or a CSV/TSV manifest (MemCat's CSV recognised by its columns).</summary>
    public static ImageDataset Open(string spec, string? root = null)
    {
        if (Directory.Exists(spec)) return FromFolder(spec);
        if (!File.Exists(spec)) throw new LayerLensException($"{spec}: no such image folder or manifest", ErrorKind.BadInput);
        var ext = Path.GetExtension(spec).ToLowerInvariant();
        if (ext == ".txt") return FromLaMemSplit(spec, root);
        if (ext is ".csv" or ".tsv" or ".tab")
        {
            var header = DelimitedReader.Read(spec).FirstOrDefault();
            if (header != null && header.Fields.Any(f => f.Trim() == "image_file") && header.Fields.Any(f => f.Contains("memorab", StringComparison.OrdinalIgnoreCase)))
                return FromMemCat(spec, root);
            return FromManifest(spec, root: root);
        }
        throw new LayerLensException($"{spec}: not an image folder, a .csv/.tsv manifest or a LaMem split .txt file", ErrorKind.Usage);
    }

    /// <summary>Every image under <paramref name="dir"/>, recursively, in ordinal order of relative path;
    /// the first-level subfolder is the <c>label</c> column.</summary>
    public static ImageDataset FromFolder(string dir)
    {
        var root = Path.GetFullPath(dir);
        var files = Directory.EnumerateFiles(root, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = false, AttributesToSkip = FileAttributes.Hidden })
            .Where(f => ImageDecoder.Extensions.Contains(Path.GetExtension(f)))
            .Select(f => (Full: f, Id: RelativeId(root, f)))
            .OrderBy(f => f.Id, StringComparer.Ordinal)
            .ToList();
        if (files.Count == 0) throw new LayerLensException($"{dir}: no images found (looked for {string.Join(" ", ImageDecoder.Extensions.Order())})", ErrorKind.BadInput);
        bool labelled = files.Any(f => f.Id.Contains('/'));
        var items = files.Select(f => new ImageItem(f.Id, f.Full, labelled
            ? new Dictionary<string, string> { ["label"] = f.Id.Contains('/') ? f.Id[..f.Id.IndexOf('/')] : "" }
            : new Dictionary<string, string>()) { Origin = f.Full }).ToList();
        return new ImageDataset(root, dir, DatasetKind.Folder, items, labelled ? new[] { "label" } : Array.Empty<string>());
    }

    /// <summary>
    /// A CSV/TSV manifest with a header: one path column (by name or guessed), an optional id column, and
    /// any other columns kept per image. Paths are relative to <paramref name="root"/> (default: the manifest's folder).
    /// </summary>
    public static ImageDataset FromManifest(string manifest, string? pathColumn = null, string? idColumn = null, string? root = null,
        Func<string, string?>? resolve = null, DatasetKind kind = DatasetKind.Manifest)
    {
        var rows = DelimitedReader.Read(manifest).ToList();
        if (rows.Count == 0) throw new LayerLensException($"{manifest}: the manifest is empty", ErrorKind.BadInput);
        var header = rows[0].Fields.Select(f => f.Trim()).ToList();
        int pathIdx = pathColumn != null
            ? header.FindIndex(h => h.Equals(pathColumn, StringComparison.OrdinalIgnoreCase))
            : PathColumnNames.Select(n => header.FindIndex(h => h.Equals(n, StringComparison.OrdinalIgnoreCase))).FirstOrDefault(i => i >= 0, -1);
        if (pathIdx < 0)
            throw new LayerLensException($"{manifest}:{rows[0].Line}: no image path column " +
                (pathColumn != null ? $"named '{pathColumn}'" : $"(expected one of {string.Join(", ", PathColumnNames)})") + $"; columns are {string.Join(", ", header)}", ErrorKind.BadInput);
        int idIdx = idColumn != null ? header.FindIndex(h => h.Equals(idColumn, StringComparison.OrdinalIgnoreCase)) : header.FindIndex(h => h.Equals("id", StringComparison.OrdinalIgnoreCase));
        if (idColumn != null && idIdx < 0) throw new LayerLensException($"{manifest}:{rows[0].Line}: no id column named '{idColumn}'", ErrorKind.BadInput);
        var baseDir = Path.GetFullPath(root ?? Path.GetDirectoryName(Path.GetFullPath(manifest))!);
        var scoreIdx = header.Select((h, i) => (h, i)).Where(p => ScoreColumnNames.Contains(p.h, StringComparer.OrdinalIgnoreCase)).Select(p => p.i).ToList();
        var columns = header.Where((h, i) => i != pathIdx && i != idIdx).ToList();

        var items = new List<ImageItem>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var row in rows.Skip(1))
        {
            var where = $"{manifest}:{row.Line}";
            if (row.Fields.Count != header.Count)
                throw new LayerLensException($"{where}: {row.Fields.Count} fields but the header has {header.Count}", ErrorKind.BadInput);
            var rel = row.Fields[pathIdx].Trim();
            if (rel.Length == 0) throw new LayerLensException($"{where}: the image path is empty", ErrorKind.BadInput);
            foreach (var si in scoreIdx) CheckNumber(row.Fields[si], header[si], where);
            string? full = resolve != null ? resolve(rel) : Path.GetFullPath(Path.Combine(baseDir, rel));
            if (full == null || !File.Exists(full))
                throw new LayerLensException($"{where}: image file not found: {(full ?? rel)}", ErrorKind.BadInput);
            var id = idIdx >= 0 ? row.Fields[idIdx].Trim() : RelativeId(baseDir, full);
            if (seen.TryGetValue(id, out var firstLine))
                throw new LayerLensException($"{where}: duplicate image id '{id}' (first at line {firstLine})", ErrorKind.BadInput);
            seen[id] = row.Line;
            var cols = new Dictionary<string, string>();
            for (int i = 0; i < header.Count; i++)
                if (i != pathIdx && i != idIdx) cols[header[i]] = row.Fields[i].Trim();
            items.Add(new ImageItem(id, full, cols) { Origin = where });
        }
        if (items.Count == 0) throw new LayerLensException($"{manifest}: the manifest lists no images", ErrorKind.BadInput);
        return new ImageDataset(baseDir, manifest, kind, items, columns);
    }

    /// <summary>
    /// A LaMem split file (<c>splits/train_1.txt</c>: lines <c>&lt;relative path&gt; &lt;score&gt;</c>). Images are looked up
    /// under <paramref name="imagesRoot"/>, by default <c>../images</c> next to the splits folder (LaMem's layout).
    /// </summary>
    public static ImageDataset FromLaMemSplit(string splitFile, string? imagesRoot = null)
    {
        var splitDir = Path.GetDirectoryName(Path.GetFullPath(splitFile))!;
        var root = Path.GetFullPath(imagesRoot ?? (Directory.Exists(Path.Combine(splitDir, "..", "images")) ? Path.Combine(splitDir, "..", "images") : splitDir));
        var items = new List<ImageItem>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        int lineNo = 0;
        foreach (var raw in File.ReadLines(splitFile))
        {
            lineNo++;
            var line = raw.Trim();
            if (line.Length == 0) continue;
            var where = $"{splitFile}:{lineNo}";
            var parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2) throw new LayerLensException($"{where}: expected '<image path> <score>', got '{Shorten(line)}'", ErrorKind.BadInput);
            CheckNumber(parts[1], "score", where);
            var id = parts[0].Replace('\\', '/');
            var full = Path.GetFullPath(Path.Combine(root, id));
            if (!File.Exists(full)) throw new LayerLensException($"{where}: image file not found: {full}", ErrorKind.BadInput);
            if (seen.TryGetValue(id, out var first)) throw new LayerLensException($"{where}: duplicate image id '{id}' (first at line {first})", ErrorKind.BadInput);
            seen[id] = lineNo;
            items.Add(new ImageItem(id, full, new Dictionary<string, string> { ["score"] = parts[1] }) { Origin = where });
        }
        if (items.Count == 0) throw new LayerLensException($"{splitFile}: the split file lists no images", ErrorKind.BadInput);
        return new ImageDataset(root, splitFile, DatasetKind.LaMemSplit, items, new[] { "score" });
    }

    /// <summary>
    /// MemCat's CSV (<c>image_file</c> plus memorability columns). Files are found under
    /// <paramref name="imagesRoot"/> (default: the CSV's folder) directly or, as MemCat stores them, in
    /// category/subcategory subfolders, looked up by file name.
    /// </summary>
    public static ImageDataset FromMemCat(string csv, string? imagesRoot = null)
    {
        var root = Path.GetFullPath(imagesRoot ?? Path.GetDirectoryName(Path.GetFullPath(csv))!);
        Dictionary<string, string>? byName = null;
        string? Resolve(string rel)
        {
            var direct = Path.GetFullPath(Path.Combine(root, rel));
            if (File.Exists(direct)) return direct;
            byName ??= Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
                .Where(f => ImageDecoder.Extensions.Contains(Path.GetExtension(f)))
                .GroupBy(Path.GetFileName, StringComparer.Ordinal)
                .ToDictionary(g => g.Key!, g => g.OrderBy(x => x, StringComparer.Ordinal).First(), StringComparer.Ordinal);
            return byName.TryGetValue(Path.GetFileName(rel), out var found) ? found : null;
        }
        return FromManifest(csv, "image_file", root: root, resolve: Resolve, kind: DatasetKind.MemCat);
    }

    /// <summary>A numeric column as doubles (e.g. memorability scores), naming the row of a bad value.</summary>
    public double[] Numbers(string column)
    {
        if (!Columns.Contains(column)) throw new LayerLensException($"{Source}: no column '{column}' (columns: {string.Join(", ", Columns)})", ErrorKind.Usage);
        return Items.Select(it => CheckNumber(it.Columns[column], column, it.Origin)).ToArray();
    }

    static double CheckNumber(string text, string column, string where)
    {
        if (double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v)) return v;
        throw new LayerLensException($"{where}: {column} '{Shorten(text)}' is not a number", ErrorKind.BadInput);
    }

    static string Shorten(string s) => s.Length <= 60 ? s : s[..57] + "...";

    static string RelativeId(string root, string full) => Path.GetRelativePath(root, full).Replace('\\', '/');

    /// <summary>The first <paramref name="n"/> items (for quick runs and the PCA reference set).</summary>
    public ImageDataset Take(int n) => new(Root, Source, Kind, Items.Take(n).ToList(), Columns);
}
