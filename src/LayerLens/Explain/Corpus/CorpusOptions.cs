using LayerLens.Classification;
using LayerLens.Detection;
using LayerLens.Images;
using LayerLens.Reports;

namespace LayerLens.Explain.Corpus;

/// <summary>What <see cref="CorpusExplainer.Run"/> analyses and where it writes.</summary>
public sealed record CorpusRunOptions
{
    /// <summary>A folder of images, a manifest (one path per line, or "id,path" lines), or a list of image paths.</summary>
    public required IReadOnlyList<string> Images { get; init; }
    /// <summary>The classifier whose maps are computed (its graph runs the CAM engine; its top class is the explained one by default).</summary>
    public required ImageClassifier Classifier { get; init; }
    /// <summary>Object detector for the boxes; null = no boxes unless <see cref="Annotations"/> gives them.</summary>
    public ObjectDetector? Detector { get; init; }
    /// <summary>CAM methods by CLI name (gradcam, gradcampp, scorecam, ...).</summary>
    public IReadOnlyList<string> Methods { get; init; } = new[] { "gradcam" };
    /// <summary>Target layers (graph layer names); several are averaged after ReLU and rescaling.</summary>
    public required IReadOnlyList<string> Layers { get; init; }
    /// <summary>"top1" (or topK), a class index, or a class name.</summary>
    public string Target { get; init; } = "top1";
    /// <summary>Edits as on the CLI: remove:person[:grey|mean|noise|blur], paste:dog, grayscale, hflip, crop:0.8, brightness:1.5, contrast:0.5, blur:2, jpeg:20.</summary>
    public IReadOnlyList<string> Modifications { get; init; } = Array.Empty<string>();
    public required string OutputDir { get; init; }
    /// <summary>Boxes scoring below this are dropped (EmoCAM: 0.3).</summary>
    public double MinDetectionScore { get; init; } = 0.3;
    /// <summary>Images whose top-class probability is below this are left out of the corpus tables.</summary>
    public double MinClassConfidence { get; init; }
    /// <summary>Objects whose importance (mean CAM in the box) is below this are left out of the corpus tables.</summary>
    public double MinImportance { get; init; }
    /// <summary>
    /// Object categories that enter the corpus tables and association matrices (EmoCAM selects person, face parts, clothing,
    /// animals, ...); null = every category found. Per-box results (objects table, JSON) keep all boxes.
    /// </summary>
    public IReadOnlyList<string>? Categories { get; init; }
    /// <summary>Seed of every random choice (permutations, bootstrap, noise fill); recorded in the outputs.</summary>
    public int Seed { get; init; }
    /// <summary>Images per CAM batch.</summary>
    public int BatchSize { get; init; } = 8;
    public int Permutations { get; init; } = 1000;
    public int BootstrapResamples { get; init; } = 1000;
    /// <summary>Pixels by which a box is grown for the pointing game (Zhang et al. 2016 use 15).</summary>
    public double PointingTolerance { get; init; }
    /// <summary>
    /// Box measures and overlays are computed on the original image reduced to at most this many pixels on its longer
    /// side (maps carried there through the same placement, boxes scaled alike), which bounds time and memory for large
    /// photos; smaller images are measured at full size.
    /// </summary>
    public int MaxAnalysisSide { get; init; } = 1024;
    public CamScore Score { get; init; } = CamScore.Raw;
    public bool AugSmooth { get; init; }
    public bool EigenSmooth { get; init; }
    /// <summary>Write an overlay PNG per image and method (OUT/overlays/ID.METHOD.png).</summary>
    public bool Overlays { get; init; } = true;
    /// <summary>Images shown in the HTML gallery (the first ones, in input order); bounds the report's size.</summary>
    public int GalleryImages { get; init; } = 48;
    /// <summary>Boxes per image id given by hand or by a dataset's annotations; used for images the detector does not cover.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<DetectedObject>>? Annotations { get; init; }
    /// <summary>The CAM engine; null = LayerLens's engine on the classifier's graph.</summary>
    public ICamEngine? CamEngine { get; init; }
}

/// <summary>One image's headline result.</summary>
public sealed record CorpusImageResult(string Id, string Path, string TopClass, double Confidence, string TargetClass, int Detections,
    string JsonPath, IReadOnlyDictionary<string, string> MapPaths, IReadOnlyDictionary<string, string> OverlayPaths);

/// <summary>What a corpus run wrote: report, tables (CSV), plots, and the per-image results.</summary>
public sealed record CorpusSummary
{
    public required string OutputDir { get; init; }
    /// <summary>The HTML report (tables, heat maps, agreement, modifications, a gallery excerpt).</summary>
    public required string ReportPath { get; init; }
    /// <summary>The HTML gallery of overlays.</summary>
    public required string GalleryPath { get; init; }
    /// <summary>OUT/maps/manifest.csv: id, method, path, height, width, target class.</summary>
    public required string MapsManifestPath { get; init; }
    /// <summary>Per image: id, path, size, top class and confidence, target class, detections.</summary>
    public required string ImagesTablePath { get; init; }
    /// <summary>Per image × method × box: category, score, box, importance, energy share, area share, ratio, pointing hit.</summary>
    public required string ObjectsTablePath { get; init; }
    /// <summary>Per method × class × category: count, expected, enrichment, mean importance, permutation p.</summary>
    public required string ClassCategoryTablePath { get; init; }
    /// <summary>Per method × measure (dice, jaccard) × variable pair: association.</summary>
    public required string AssociationTablePath { get; init; }
    /// <summary>Per measure × pair of methods: Spearman ρ of the lower triangles, t and permutation p-values.</summary>
    public required string AgreementTablePath { get; init; }
    /// <summary>Per method × category: boxes, pointing-game hits, hit rate.</summary>
    public required string PointingTablePath { get; init; }
    /// <summary>Per modification × group: images, change rate, mean Δp, mean KL with bootstrap intervals (null without modifications).</summary>
    public string? ModificationsTablePath { get; init; }
    /// <summary>Per image × modification: classes before and after, Δp, KL (null without modifications).</summary>
    public string? ModificationOutcomesTablePath { get; init; }
    /// <summary>Every table by name (images, objects, class_category, association, agreement, pointing, modifications, modification_outcomes).</summary>
    public required IReadOnlyDictionary<string, string> Tables { get; init; }
    /// <summary>Association heat maps (per method and measure), the method-agreement matrices, the modification chart.</summary>
    public required IReadOnlyList<ChartImage> Charts { get; init; }
    /// <summary>Where each of <see cref="Charts"/> was saved (PNG; the SVG sits beside it), in the same order.</summary>
    public required IReadOnlyList<string> ChartPaths { get; init; }
    public required IReadOnlyList<string> Methods { get; init; }
    public required int ImageCount { get; init; }
    /// <summary>Images that passed the class-confidence filter.</summary>
    public required int ImagesKept { get; init; }
    public required int Seed { get; init; }
    public required IReadOnlyList<CorpusImageResult> Images { get; init; }
    public required IReadOnlyList<ClassCategoryCell> ClassCategory { get; init; }
    public required IReadOnlyList<MethodAgreement> Agreements { get; init; }
    public required IReadOnlyList<ModificationEffect> ModificationEffects { get; init; }
}

/// <summary>Resolves the image list of a run: a folder (sorted), a manifest, or explicit paths; ids are unique and file-safe.</summary>
public static class CorpusImages
{
    public static List<(string Id, string Path)> Resolve(IReadOnlyList<string> images)
    {
        if (images.Count == 0) throw new LayerLensException("no images given", ErrorKind.Usage);
        var list = new List<(string, string)>();
        if (images.Count == 1 && Directory.Exists(images[0]))
        {
            list.AddRange(Directory.EnumerateFiles(images[0]).Where(f => ImageDecoder.Extensions.Contains(System.IO.Path.GetExtension(f)))
                .OrderBy(f => f, StringComparer.Ordinal).Select(f => (System.IO.Path.GetFileNameWithoutExtension(f), f)));
            if (list.Count == 0) throw new LayerLensException($"{images[0]}: no images (extensions {string.Join(", ", ImageDecoder.Extensions)})", ErrorKind.BadInput);
        }
        else if (images.Count == 1 && File.Exists(images[0]) && !ImageDecoder.Extensions.Contains(System.IO.Path.GetExtension(images[0])))
            list.AddRange(Manifest(images[0]));
        else
            foreach (var p in images)
            {
                if (!File.Exists(p)) throw new LayerLensException($"{p}: image not found", ErrorKind.BadInput);
                list.Add((System.IO.Path.GetFileNameWithoutExtension(p), p));
            }
        var seen = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        var result = new List<(string, string)>(list.Count);
        foreach (var (id, path) in list)
        {
            var safe = string.Concat(id.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));
            if (safe.Length == 0) safe = "image";
            var unique = safe;
            for (int k = 2; seen.ContainsKey(unique); k++) unique = $"{safe}_{k}";
            seen[unique] = 1;
            result.Add((unique, path));
        }
        return result;
    }

    static IEnumerable<(string, string)> Manifest(string manifest)
    {
        var baseDir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(manifest))!;
        int lineNo = 0;
        var list = new List<(string, string)>();
        foreach (var raw in File.ReadLines(manifest))
        {
            lineNo++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            if (lineNo == 1 && line.Equals("id,path", StringComparison.OrdinalIgnoreCase)) continue;
            int comma = line.IndexOf(',');
            string id, path;
            if (comma > 0) { id = line[..comma].Trim(); path = line[(comma + 1)..].Trim(); }
            else { path = line; id = System.IO.Path.GetFileNameWithoutExtension(path); }
            if (!System.IO.Path.IsPathRooted(path)) path = System.IO.Path.Combine(baseDir, path);
            if (!File.Exists(path)) throw new LayerLensException($"{manifest}:{lineNo}: image '{path}' not found", ErrorKind.BadInput);
            list.Add((id, path));
        }
        if (list.Count == 0) throw new LayerLensException($"{manifest}: manifest lists no images", ErrorKind.BadInput);
        return list;
    }
}
