using System.CommandLine;
using System.Globalization;
using LayerLens.Demo;

namespace LayerLens.Cli.Commands;

/// <summary>
/// `layerlens demo`: the three studies end to end on real pretrained networks from the zoo (pulled with npm on first
/// use) and bundled or generated images, ending in one self-contained HTML report.
/// </summary>
public static class DemoCommand
{
    public const string BundledPhotos = "Assets/photos";

    public static Command Build()
    {
        var outDir = new Option<string>("--out", "-o") { Description = "Folder for the demo's files and report.html.", DefaultValueFactory = _ => "layerlens-demo" };
        var images = new Option<int>("--images") { Description = "Synthetic images in the memorability × brain-similarity sweep.", DefaultValueFactory = _ => 160 };
        var seed = new Option<int>("--seed") { Description = "Seed of every random choice (image generation, neural noise, splits, permutations).", DefaultValueFactory = _ => 7 };
        var cmd = new Command("demo",
            "Run the three studies on real pretrained networks from the zoo (emotion, nanodet): (a) a memorability × brain-similarity\n" +
            "layer sweep on synthetic images with synthetic IT responses from a known layer, (b) the networks' layers as image-quality\n" +
            "metrics against PSNR/SSIM/MS-SSIM on distorted photographs, (c) CAM explanations with object detection over photographs.\n" +
            "Writes DIR/report.html (self-contained) and each part's results; synthetic data is labelled as such everywhere.\n\n" +
            "Examples:\n" +
            "  layerlens demo\n" +
            "  layerlens demo --out /tmp/demo --images 300 --seed 1")
        { outDir, images, seed };
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            if (parse.GetValue(images) < 40) throw new LayerLensException("--images must be at least 40 (the sweep cross-validates with 5 folds and 10 splits)", ErrorKind.Usage);
            var output = parse.InvocationConfiguration.Output;
            var options = new DemoOptions
            {
                OutputDir = parse.GetValue(outDir)!,
                PhotosDir = Path.Combine(AppContext.BaseDirectory, BundledPhotos),
                Images = parse.GetValue(images),
                Seed = parse.GetValue(seed),
            };
            var summary = CliProgress.Run(output, progress => DemoRunner.Run(options, progress, output));
            Print(output, summary);
            return 0;
        }));
        return cmd;
    }

    static void Print(TextWriter o, DemoSummary s)
    {
        var inv = CultureInfo.InvariantCulture;
        o.WriteLine();
        o.WriteLine("(a) memorability × brain similarity (SYNTHETIC data; IT generated from " + s.GeneratorLayer + ")");
        foreach (var b in s.Sweep.BestLayers)
            o.WriteLine(string.Create(inv, $"    best {b.Target,-22} layer of {b.Model,-8}: {b.Layer} (depth {b.RelativeDepth:0.00}), {b.Metric} {b.Value:0.000} ± {b.Error:0.000}"));
        foreach (var c in s.Sweep.Correlations)
            o.WriteLine(string.Create(inv, $"    {c.Scope}: Spearman({c.X}, {c.Y}) = {c.Rho:0.00} [{c.Low:0.00}, {c.High:0.00}] over {c.N} layers"));
        o.WriteLine("(b) image quality (SYNTHETIC ratings from distortion levels), all distortions pooled: baselines and each network's best layer");
        var t = DemoReport.PooledSummary(s.Quality.Table);
        for (int row = 0; row < t.RowCount; row++)
        {
            var who = t.Text(row, "role") == "baseline" ? t.Text(row, "readout") : $"{t.Text(row, "model")} {t.Text(row, "readout")} @ {t.Text(row, "layer")}";
            o.WriteLine(string.Create(inv, $"    SROCC {t.Number(row, "srocc"):0.000}  {who}"));
        }
        o.WriteLine("(c) explanations: top class and objects per photograph");
        foreach (var i in s.Explanations.Images)
            o.WriteLine(string.Create(inv, $"    {i.Id,-16} {i.TopClass,-9} {i.Confidence:0.00}  {i.Detections} objects"));
        o.WriteLine();
        o.WriteLine($"Report: {s.ReportPath}  ({s.Elapsed.ToString(@"m\:ss", inv)})");
    }
}
