using System.Globalization;
using LayerLens.Explain.Corpus;
using LayerLens.Quality.Grid;
using LayerLens.Reports;
using LayerLens.Sweep;

namespace LayerLens.Demo;

/// <summary>The demo's one-page report: the three parts' key tables and plots, linking each part's full report.</summary>
public static class DemoReport
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static void Write(string path, DemoOptions o, string generatorLayer, SweepSummary sweep, IqaGridSummary quality,
        CorpusSummary explanations, TimeSpan elapsed)
    {
        var dir = Path.GetDirectoryName(path)!;
        string Rel(string p) => Path.GetRelativePath(dir, p).Replace('\\', '/');
        var r = new HtmlReport("LayerLens demo: three studies on real pretrained networks");

        r.Section("What this is")
            .Paragraph("Everything below was computed by one command, `layerlens demo`, on real pretrained networks from the model zoo " +
                       "(TensorFlow.js graph models run with libtorch). Parts marked synthetic use generated data — drawn shapes with a " +
                       "known memorability-like score, neural responses generated from a known layer, distortion levels standing in " +
                       "for human ratings — so that the right answers are known; bring your own data to study real ones.")
            .Facts(new (string, string)[]
            {
                ("networks", string.Join(", ", o.SweepModels.Select(m => $"{m.Model} ({m.Layers})"))),
                ("classifier / detector", $"{o.Classifier} / {o.Detector}"),
                ("seed", o.Seed.ToString(Inv)),
                ("run time", elapsed.ToString(@"m\:ss", Inv)),
                ("LayerLens", typeof(DemoReport).Assembly.GetName().Version?.ToString() ?? "?"),
            });

        r.Section("(a) Memorability and brain similarity across layers", synthetic: true)
            .Paragraph($"{o.Images} synthetic images of drawn shapes; their score rises with the number and size of the shapes (see " +
                       "data/memorability/GENERATED.txt). Synthetic 'IT' responses with repetitions were generated from layer " +
                       $"'{generatorLayer}' of {o.GeneratorModel}, so Brain-Score-style predictivity should peak there. Every layer of " +
                       "each network is read out for the score (ridge, 5-fold) and scored against the responses (PLS-25, 10 splits, " +
                       "split-half ceiling).")
            .Code("layerlens sweep sweep.yaml --out sweep");
        foreach (var chart in sweep.Charts) r.Chart(chart);
        r.Table(sweep.BestLayerTable, "Best layer per network and target")
            .Table(sweep.CorrelationTable, "Memorability accuracy against brain similarity across layers (Spearman, bootstrap interval)")
            .Table(sweep.PenultimateTable, "Penultimate layers")
            .Raw($"<p>Full sweep report: <a href=\"{Rel(sweep.ReportPath)}\">{Rel(sweep.ReportPath)}</a>; tidy table: {Rel(sweep.ResultsCsv)} and {Rel(sweep.ResultsParquet)}.</p>");

        r.Section("(b) Layers as image-quality metrics", synthetic: true)
            .Paragraph("The bundled photographs distorted by the generator (blur, noise, JPEG, contrast, ... at levels " +
                       $"{string.Join(", ", o.QualityLevels)}); the distortion level stands in for human ratings. Each layer's deep-feature " +
                       $"distance ({string.Join(", ", o.QualityReadouts)}) is compared with PSNR, SSIM and MS-SSIM by rank correlation.")
            .Code("layerlens iqa iqa.yaml --out quality");
        foreach (var chart in quality.Plots) r.Chart(chart);
        r.Table(PooledSummary(quality.Table), "All distortion types pooled: the baselines and each network × readout's best layer, by SROCC")
            .Raw($"<p>Full quality report: <a href=\"{Rel(quality.ReportPath)}\">{Rel(quality.ReportPath)}</a>; tidy table: {Rel(quality.ResultsCsv)}.</p>");

        r.Section("(c) What drives the classifier: CAMs with object detection")
            .Paragraph($"{o.Classifier} explained at its last convolutional block by {string.Join(", ", o.CamMethods)}; {o.Detector} " +
                       "finds objects, and each object's importance is the mean map value inside its box (EmoCAM). The edits " +
                       $"{string.Join(", ", o.Modifications)} show how the prediction changes. The photographs are scikit-image's " +
                       "samples (see their ATTRIBUTION.md); the classifier was trained on faces, so on a cat it explains a guess.");
        var gallery = explanations.Images
            .SelectMany(i => i.OverlayPaths.Select(kv => (Image: i, Method: kv.Key, Path: kv.Value)))
            .Where(x => File.Exists(x.Path)).Take(24)
            .Select(x => (File.ReadAllBytes(x.Path), $"{x.Image.Id} · {x.Method} · {x.Image.TopClass} {x.Image.Confidence.ToString("0.00", Inv)}"))
            .ToList();
        if (gallery.Count > 0) r.Gallery(gallery);
        r.Table(new[] { "image", "top class", "confidence", "detections" },
            explanations.Images.Select(i => (IReadOnlyList<object?>)new object?[] { i.Id, i.TopClass, i.Confidence, i.Detections }),
            "Per image");
        if (explanations.ClassCategory.Count > 0)
            r.Table(new[] { "class", "object", "images", "mean importance", "enrichment", "p" },
                explanations.ClassCategory.Select(c => (IReadOnlyList<object?>)new object?[] { c.Class, c.Category, c.Count, c.MeanImportance, c.Enrichment, c.PValue }),
                "Class × object category");
        if (explanations.ModificationEffects.Count > 0)
            r.Table(new[] { "edit", "group", "images", "top-class change rate", "mean Δ probability", "mean KL" },
                explanations.ModificationEffects.Select(e => (IReadOnlyList<object?>)new object?[]
                    { e.Modification, e.Group, e.Images, e.ChangeRate.Estimate, e.MeanProbabilityChange.Estimate, e.MeanKl.Estimate }),
                "Image edits");
        foreach (var chart in explanations.Charts.Take(4)) r.Chart(chart);
        r.Raw($"<p>Full explanation report: <a href=\"{Rel(explanations.ReportPath)}\">{Rel(explanations.ReportPath)}</a>; " +
              $"maps: {Rel(explanations.MapsManifestPath)}.</p>");

        r.Save(path);
    }

    /// <summary>
    /// The quality table pooled over distortion types: every baseline (PSNR, SSIM, MS-SSIM, LPIPS) and each model ×
    /// readout's best layer, by SROCC, best first.
    /// </summary>
    public static TidyTable PooledSummary(TidyTable table)
    {
        int role = table.IndexOf("role"), dist = table.IndexOf("distortion"), sr = table.IndexOf("srocc");
        int model = table.IndexOf("model"), readout = table.IndexOf("readout");
        double Srocc(object?[] r) => r[sr] is double d && !double.IsNaN(d) ? d : double.NegativeInfinity;
        var pooled = table.Rows.Where(r => (string?)r[dist] == "all").ToList();
        var keep = pooled.Where(r => (string?)r[role] == "baseline")
            .Concat(pooled.Where(r => (string?)r[role] != "baseline")
                .GroupBy(r => ((string?)r[model], (string?)r[readout]))
                .Select(g => g.OrderByDescending(Srocc).First()))
            .OrderByDescending(Srocc);
        var summary = new TidyTable(table.Columns.ToArray());
        foreach (var row in keep) summary.Add(row);
        return summary;
    }
}
