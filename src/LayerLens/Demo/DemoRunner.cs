using System.Diagnostics;
using System.Globalization;
using System.Text;
using LayerLens.Classification;
using LayerLens.Datasets;
using LayerLens.Detection;
using LayerLens.Explain.Corpus;
using LayerLens.Features;
using LayerLens.IO;
using LayerLens.Models;
using LayerLens.Quality.Grid;
using LayerLens.Sweep;
using LayerLens.Zoo;
using TorchSharp;

namespace LayerLens.Demo;

/// <summary>What the demo runs on; the defaults are sized for a 2-core laptop (a few minutes).</summary>
public sealed record DemoOptions
{
    public required string OutputDir { get; init; }
    /// <summary>Folder of photographs for the image-quality and explanation parts (the CLI passes its bundled photos).</summary>
    public required string PhotosDir { get; init; }
    /// <summary>Synthetic images for the memorability × brain-similarity sweep.</summary>
    public int Images { get; init; } = 160;
    public int ImageSize { get; init; } = 96;
    public int Seed { get; init; } = 7;
    /// <summary>The two networks of the sweep, with the layers tapped in each.</summary>
    public IReadOnlyList<(string Model, string Layers)> SweepModels { get; init; } =
        new[] { ("zoo:emotion", "all"), ("zoo:nanodet", "op:LeakyRelu") };
    /// <summary>The network and layer the synthetic IT responses are generated from (null: the classifier's layer nearest 0.6 relative depth).</summary>
    public string GeneratorModel { get; init; } = "zoo:emotion";
    public string? GeneratorLayer { get; init; }
    public string Classifier { get; init; } = "zoo:emotion";
    /// <summary>CAM target layer of the classifier (null: its last convolutional block).</summary>
    public string? CamLayer { get; init; }
    public IReadOnlyList<string> CamMethods { get; init; } = new[] { "gradcam", "gradcampp", "scorecam", "eigencam" };
    public string Detector { get; init; } = "zoo:nanodet";
    public IReadOnlyList<string> Modifications { get; init; } = new[] { "grayscale", "remove:person" };
    /// <summary>Longest side of the photographs in the generated distortion set (MS-SSIM needs a shorter side of at least 176 px; the bundled photos are 320 × 213 or larger), and the levels generated.</summary>
    public int QualityMaxSide { get; init; } = 320;
    public IReadOnlyList<int> QualityLevels { get; init; } = new[] { 1, 3, 5 };
    public IReadOnlyList<string> QualityReadouts { get; init; } = new[] { "l2", "lpips" };
}

/// <summary>What the demo wrote.</summary>
public sealed record DemoSummary(string OutputDir, string ReportPath, string GeneratorLayer, SweepSummary Sweep,
    IqaGridSummary Quality, CorpusSummary Explanations, TimeSpan Elapsed);

/// <summary>
/// The three studies end to end on real pretrained networks from the zoo: (a) a memorability × brain-similarity
/// sweep of two networks over synthetic images with synthetic IT responses generated from one known layer,
/// (b) the networks' layers as image-quality metrics against PSNR, SSIM and MS-SSIM on a generated distortion
/// set, (c) class-activation maps with object detection over photographs, with corpus tables and image edits.
/// Each part writes its own folder and report; <c>report.html</c> gathers them. The sweep and quality configs
/// are written as YAML beside the results, so each part can be re-run (and edited) with its own command.
/// </summary>
public static class DemoRunner
{
    public static DemoSummary Run(DemoOptions o, IProgress<WorkProgress>? progress = null, TextWriter? log = null, CancellationToken ct = default)
    {
        var clock = Stopwatch.StartNew();
        log ??= TextWriter.Null;
        var dir = Path.GetFullPath(o.OutputDir);
        Directory.CreateDirectory(dir);
        var zoo = ModelZoo.Default();
        foreach (var m in o.SweepModels.Select(s => s.Model).Append(o.GeneratorModel).Append(o.Classifier).Append(o.Detector).Distinct())
            if (m.StartsWith("zoo:", StringComparison.Ordinal)) zoo.Resolve(m[4..], log);

        // (a) Synthetic memorability-like images, and IT responses generated from one layer of a real network.
        log.WriteLine($"(a) memorability x brain similarity: {o.Images} synthetic images, {o.SweepModels.Count} networks");
        var data = Path.Combine(dir, "data");
        var images = SyntheticStudy.GenerateImages(Path.Combine(data, "memorability"), o.Images, o.ImageSize, o.Seed);
        var generatorLayer = GenerateNeural(o, images, Path.Combine(data, "neural-it"), progress, ct);
        var sweepYaml = Path.Combine(dir, "sweep.yaml");
        AtomicFile.WriteAllText(sweepYaml, SweepYaml(o, generatorLayer));
        var sweep = SweepRunner.Run(SweepConfig.Load(sweepYaml), Path.Combine(dir, "sweep"), progress, ct);

        // (b) The networks' layers as full-reference quality metrics on distorted photographs.
        log.WriteLine("(b) image quality: deep-feature distances against PSNR, SSIM and MS-SSIM");
        var iqaYaml = Path.Combine(dir, "iqa.yaml");
        AtomicFile.WriteAllText(iqaYaml, IqaYaml(o));
        var quality = IqaGrid.Run(IqaGridConfig.Load(iqaYaml), Path.Combine(dir, "quality"), progress, ct);

        // (c) CAMs and detections over the photographs.
        log.WriteLine("(c) explanations: CAMs with object detection over the photographs");
        var explanations = Explain(o, zoo, Path.Combine(dir, "explain"), progress, ct);

        var report = Path.Combine(dir, "report.html");
        DemoReport.Write(report, o, generatorLayer, sweep, quality, explanations, clock.Elapsed);
        return new DemoSummary(dir, report, generatorLayer, sweep, quality, explanations, clock.Elapsed);
    }

    /// <summary>Extracts the generating layer (channel means) and writes the synthetic neural folder; returns the layer's name.</summary>
    static string GenerateNeural(DemoOptions o, SyntheticImageSet images, string folder, IProgress<WorkProgress>? progress, CancellationToken ct)
    {
        using var graph = ModelLoader.Load(o.GeneratorModel);
        var preprocessing = Preprocessing.PreprocessingSpec.Resolve(o.GeneratorModel);
        var layer = o.GeneratorLayer ?? graph.Layers
            .Where(l => l.RelativeDepth <= 0.85)
            .OrderBy(l => Math.Abs(l.RelativeDepth - 0.6)).ThenBy(l => l.DepthIndex).First().Name;
        if (!graph.HasLayer(layer))
            throw new LayerLensException($"{o.GeneratorModel}: no layer '{layer}' to generate neural data from", ErrorKind.Usage);
        var dataset = ImageDataset.FromManifest(images.Manifest);
        var store = Path.Combine(folder, "generator-features.h5");
        Directory.CreateDirectory(folder);
        FeatureExtractor.Run(graph, o.GeneratorModel, dataset, store, new ExtractionOptions
        {
            LayerSelector = layer, Reducer = "gap", Seed = o.Seed, Preprocessing = preprocessing,
        }, new SyncProgress<ExtractionProgress>(p => progress?.Report(new WorkProgress("synthetic IT responses", p.Done, p.Total, "images"))), ct);
        var features = FeatureStore.Open(store);
        var values = features.Read(layer);
        int n = features.Ids.Count;
        using var matrix = torch.tensor(values, new long[] { n, values.Length / n });
        var categories = dataset.Items.ToDictionary(i => i.Id, i => i.Columns.TryGetValue("category", out var c) ? c : "none");
        SyntheticStudy.WriteNeural(folder, features.Ids, features.Ids.Select(id => categories[id]).ToList(), matrix,
            o.GeneratorModel, layer, seed: o.Seed);
        File.Delete(store);
        return layer;
    }

    static string Q(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

    static string SweepYaml(DemoOptions o, string generatorLayer)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Written by `layerlens demo`. SYNTHETIC DATA: the scores are a known function of the drawn shapes and");
        sb.AppendLine($"# the IT responses were generated from layer '{generatorLayer}' of {o.GeneratorModel}; see data/*/GENERATED.txt.");
        sb.AppendLine("# Re-run with: layerlens sweep sweep.yaml --out sweep");
        sb.AppendLine(CultureInfo.InvariantCulture, $"seed: {o.Seed}");
        sb.AppendLine("images: data/memorability/memorability.csv");
        sb.AppendLine("models:");
        foreach (var (model, layers) in o.SweepModels)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"  - model: {Q(model)}");
            sb.AppendLine(CultureInfo.InvariantCulture, $"    layers: {Q(layers)}");
            sb.AppendLine("    reducer: gap");
        }
        sb.AppendLine("targets:");
        sb.AppendLine("  - name: memorability-synthetic");
        sb.AppendLine("    scores: data/memorability/memorability.csv");
        sb.AppendLine("    id_column: id");
        sb.AppendLine("    column: score");
        sb.AppendLine("    readout: ridge");
        sb.AppendLine("    cv: kfold:5");
        sb.AppendLine("  - name: IT-synthetic");
        sb.AppendLine("    neural: data/neural-it");
        sb.AppendLine("    region: IT");
        sb.AppendLine("    metric: pls");
        sb.AppendLine("    splits: 10");
        sb.AppendLine("analysis:");
        sb.AppendLine("  accuracy: memorability-synthetic");
        sb.AppendLine("  brain: IT-synthetic");
        return sb.ToString();
    }

    static string IqaYaml(DemoOptions o)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Written by `layerlens demo`. SYNTHETIC RATINGS: the distortion set is generated from the bundled photographs");
        sb.AppendLine("# and its scores come from the distortion levels, not from human observers.");
        sb.AppendLine("# Re-run with: layerlens iqa iqa.yaml --out quality");
        sb.AppendLine("title: \"Network layers as image-quality metrics (SYNTHETIC ratings: distortion levels, not human judgements)\"");
        sb.AppendLine(CultureInfo.InvariantCulture, $"seed: {o.Seed}");
        sb.AppendLine("models:");
        foreach (var (model, layers) in o.SweepModels)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"  - model: {Q(model)}");
            sb.AppendLine(CultureInfo.InvariantCulture, $"    layers: {Q(layers)}");
        }
        sb.AppendLine(CultureInfo.InvariantCulture, $"readouts: [{string.Join(", ", o.QualityReadouts)}]");
        sb.AppendLine("datasets:");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  - dataset: {Q("distort:" + Path.GetFullPath(o.PhotosDir))}");
        sb.AppendLine("    name: photos-synthetic-ratings");
        sb.AppendLine(CultureInfo.InvariantCulture, $"    max_side: {o.QualityMaxSide}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"    levels: [{string.Join(", ", o.QualityLevels)}]");
        return sb.ToString();
    }

    static CorpusSummary Explain(DemoOptions o, ModelZoo zoo, string outDir, IProgress<WorkProgress>? progress, CancellationToken ct)
    {
        using var graph = ModelLoader.Load(o.Classifier);
        var classifier = o.Classifier.StartsWith("zoo:", StringComparison.Ordinal)
            ? ImageClassifier.ForZoo(graph, zoo.Get(o.Classifier[4..]))
            : throw new LayerLensException($"demo: the classifier must be a zoo model (zoo:NAME), got '{o.Classifier}'", ErrorKind.Usage);
        using var detectorGraph = ModelLoader.Load(o.Detector);
        var detector = ObjectDetector.ForZoo(detectorGraph, zoo.Get(o.Detector[4..]));
        // The last convolutional block before global pooling, where CAMs are usually taken: the deepest layer with a
        // spatial map and more channels than classes (a class-map convolution just before pooling is skipped).
        var camLayer = o.CamLayer ?? graph.InferShapes(graph.InputShapesFor(classifier.InputHeight, classifier.InputWidth))
            .Where(l => l.OutputShape is { Length: 4 } s && (graph.IsChannelsLast(s)
                ? s[1] > 1 && s[2] > 1 && s[3] > classifier.Labels.Count
                : s[2] > 1 && s[3] > 1 && s[1] > classifier.Labels.Count))
            .OrderByDescending(l => l.DepthIndex).FirstOrDefault()?.Name
            ?? throw new LayerLensException($"{o.Classifier}: no convolutional layer with a spatial map to explain; give a CAM layer", ErrorKind.Usage);
        return CorpusExplainer.Run(new CorpusRunOptions
        {
            Images = new[] { o.PhotosDir },   // a folder: its images in ordinal order, ids from file names
            Classifier = classifier,
            Detector = detector,
            Methods = o.CamMethods,
            Layers = new[] { camLayer },
            Modifications = o.Modifications,
            OutputDir = outDir,
            Seed = o.Seed,
        }, progress, ct);
    }
}
