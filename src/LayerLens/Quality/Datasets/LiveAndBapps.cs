using LayerLens.IO;
using LayerLens.Native;

namespace LayerLens.Quality.Datasets;

/// <summary>One BAPPS 2AFC triplet: which of p0 and p1 is closer to ref, as the fraction of people choosing p1.</summary>
public sealed record TwoAfcTriplet(string Reference, string P0, string P1, double PreferP1);

/// <summary>One BAPPS JND pair with the fraction of people who judged the two images the same.</summary>
public sealed record JndPair(string P0, string P1, double Same);

public static partial class IqaDatasets
{
    /// <summary>LIVE release 2's folders in the order its dmos.mat lists them, with their image counts.</summary>
    public static readonly (string Folder, int Count)[] LiveFolders =
        { ("jp2k", 227), ("jpeg", 233), ("wn", 174), ("gblur", 174), ("fastfading", 174) };

    /// <summary>
    /// LIVE release 2: <c>dmos.mat</c> (dmos and orgs, 982 entries in folder order jp2k, jpeg, wn, gblur,
    /// fastfading, each imgK.bmp in K order), each folder's <c>info.txt</c> ("reference distorted parameter"),
    /// and <c>refimgs/</c>. Entries marked as originals (orgs = 1) are left out. DMOS: higher is worse.
    /// </summary>
    public static IqaDataset Live(string dir)
    {
        RequireDir(dir, "LIVE");
        var matPath = Path.Combine(dir, "dmos.mat");
        var mat = MatV5.ReadNumeric(matPath);
        if (!mat.TryGetValue("dmos", out var dmos))
            throw new LayerLensException($"{matPath}: no numeric variable 'dmos'", ErrorKind.BadInput);
        mat.TryGetValue("orgs", out var orgs);
        int total = LiveFolders.Sum(f => f.Count);
        if (dmos.Length != total || (orgs != null && orgs.Length != total))
            throw new LayerLensException($"{matPath}: expected {total} entries in dmos/orgs (LIVE release 2), got {dmos.Length}", ErrorKind.BadInput);
        var files = new FolderIndex();
        var pairs = new List<IqaPair>();
        int offset = 0;
        foreach (var (folder, count) in LiveFolders)
        {
            var info = Path.Combine(dir, folder, "info.txt");
            var lines = ReadLines(info);
            for (int i = 0; i < lines.Length; i++)
            {
                var parts = lines[i].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length == 0) continue;
                if (parts.Length < 2 || !parts[1].StartsWith("img", StringComparison.OrdinalIgnoreCase)
                    || !int.TryParse(Path.GetFileNameWithoutExtension(parts[1])[3..], out var k) || k < 1 || k > count)
                    throw new LayerLensException($"{info}:{i + 1}: expected 'reference.bmp imgK.bmp parameter' with 1 ≤ K ≤ {count}", ErrorKind.BadInput);
                int at = offset + k - 1;
                if (orgs != null && orgs[at] != 0) continue;
                pairs.Add(new IqaPair(
                    files.Resolve(Path.Combine(dir, "refimgs"), Path.GetFileNameWithoutExtension(parts[0]), info, i + 1, Path.GetExtension(parts[0])),
                    files.Resolve(Path.Combine(dir, folder), Path.GetFileNameWithoutExtension(parts[1]), info, i + 1, Path.GetExtension(parts[1])),
                    dmos[at], folder, null));
            }
            offset += count;
        }
        if (pairs.Count == 0) throw new LayerLensException($"{dir}: no LIVE pairs found", ErrorKind.BadInput);
        return new IqaDataset("live", pairs, HigherScoreIsBetter: false);
    }

    /// <summary>BAPPS 2AFC folder (e.g. 2afc/val/traditional): ref/, p0/, p1/ images and judge/*.npy with the
    /// fraction preferring p1, matched by file stem.</summary>
    public static IReadOnlyList<TwoAfcTriplet> BappsTwoAfc(string dir)
    {
        RequireDir(dir, "BAPPS 2AFC");
        var judge = Path.Combine(dir, "judge");
        var files = new FolderIndex();
        var list = new List<TwoAfcTriplet>();
        foreach (var j in NpyFiles(judge))
        {
            var stem = Path.GetFileNameWithoutExtension(j);
            list.Add(new TwoAfcTriplet(
                files.Resolve(Path.Combine(dir, "ref"), stem, j, 1),
                files.Resolve(Path.Combine(dir, "p0"), stem, j, 1),
                files.Resolve(Path.Combine(dir, "p1"), stem, j, 1),
                Fraction(j)));
        }
        return list;
    }

    /// <summary>BAPPS JND folder (e.g. jnd/val/traditional): p0/, p1/ images and same/*.npy.</summary>
    public static IReadOnlyList<JndPair> BappsJnd(string dir)
    {
        RequireDir(dir, "BAPPS JND");
        var files = new FolderIndex();
        var list = new List<JndPair>();
        foreach (var s in NpyFiles(Path.Combine(dir, "same")))
        {
            var stem = Path.GetFileNameWithoutExtension(s);
            list.Add(new JndPair(files.Resolve(Path.Combine(dir, "p0"), stem, s, 1), files.Resolve(Path.Combine(dir, "p1"), stem, s, 1), Fraction(s)));
        }
        return list;
    }

    static IEnumerable<string> NpyFiles(string dir)
    {
        RequireDir(dir, "BAPPS judgement");
        var files = Directory.EnumerateFiles(dir, "*.npy").Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new LayerLensException($"{dir}: no .npy judgement files", ErrorKind.BadInput);
        return files;
    }

    static double Fraction(string npy)
    {
        TorchRuntime.EnsureLoaded();
        using var t = Npy.Read(npy);
        if (t.numel() != 1) throw new LayerLensException($"{npy}: expected one value, got {t.numel()}", ErrorKind.BadInput);
        using var d = t.to_type(TorchSharp.torch.ScalarType.Float64);
        var v = d.flatten()[0].item<double>();
        return v is >= 0 and <= 1 ? v : throw new LayerLensException($"{npy}: judgement {v} is not a fraction in 0..1", ErrorKind.BadInput);
    }
}
