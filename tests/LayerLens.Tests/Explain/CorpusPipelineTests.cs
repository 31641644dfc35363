using LayerLens.Preprocessing;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using LayerLens.Classification;
using LayerLens.Cli;
using LayerLens.Detection;
using LayerLens.Explain.Corpus;
using LayerLens.Images;
using LayerLens.IO;
using LayerLens.Models;
using LayerLens.Tests.Engine;
using LayerLens.Tests.Reports;
using LayerLens.Tests.TfJs;
using LayerLens.Zoo;
using Xunit.Abstractions;

namespace LayerLens.Tests.Explain;

/// <summary>
/// The corpus pipeline end to end: the zoo's emotion classifier with the NanoDet detector on the committed photos, the CLI,
/// and 10,000 generated images through a tiny hand-weighted CNN in bounded memory.
/// </summary>
public class CorpusPipelineTests : IDisposable
{
    const string EmotionLayer = "StatefulPartitionedCall/model_1/add_2/add";   // last residual add, 8×8×256, before the class conv
    readonly ITestOutputHelper _out;
    readonly string _dir = Path.Combine(Path.GetTempPath(), "layerlens-corpus-" + Guid.NewGuid().ToString("N")[..8]);

    public CorpusPipelineTests(ITestOutputHelper output) { _out = output; Directory.CreateDirectory(_dir); }
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    static List<Dictionary<string, string>> Csv(string path)
    {
        var lines = File.ReadAllLines(path);
        var header = lines[0].Split(',');
        return lines.Skip(1).Select(l => SplitCsv(l).Select((v, i) => (header[i], v)).ToDictionary(t => t.Item1, t => t.v)).ToList();
    }

    static List<string> SplitCsv(string line)
    {
        var cells = new List<string>();
        var sb = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted) { if (c == '"' && i + 1 < line.Length && line[i + 1] == '"') { sb.Append('"'); i++; } else if (c == '"') quoted = false; else sb.Append(c); }
            else if (c == '"') quoted = true;
            else if (c == ',') { cells.Add(sb.ToString()); sb.Clear(); }
            else sb.Append(c);
        }
        cells.Add(sb.ToString());
        return cells;
    }

    static double D(string s) => double.Parse(s, CultureInfo.InvariantCulture);

    [Fact]
    public void Emotion_classifier_with_nanodet_on_the_photos()
    {
        _ = TfJsReference.HumanModelsDir;
        var zoo = ModelZoo.Default();
        using var eg = ModelLoader.Load("zoo:emotion");
        using var dg = ModelLoader.Load("zoo:nanodet");
        var classifier = ImageClassifier.ForZoo(eg, zoo.Get("emotion"));
        var detector = ObjectDetector.ForZoo(dg, zoo.Get("nanodet"));
        var photos = TfJsReference.FixturePath("Photos");
        var summary = CorpusExplainer.Run(new CorpusRunOptions
        {
            Images = new[] { photos }, Classifier = classifier, Detector = detector,
            Methods = new[] { "gradcam", "gradcampp" }, Layers = new[] { EmotionLayer },
            Modifications = new[] { "remove:person", "grayscale", "paste:cat" },
            OutputDir = _dir, MinDetectionScore = 0.3, Permutations = 200, BootstrapResamples = 200, Seed = 5,
        });
        Assert.Equal(new[] { "astronaut", "chelsea", "coffee", "motorcycle_left" }, summary.Images.Select(i => i.Id));
        Assert.Equal(new[] { "gradcam", "gradcampp" }, summary.Methods);

        foreach (var r in summary.Images)
        {
            var image = ImageDecoder.Decode(r.Path);
            // The top class is the classifier's own (the CAM engine's probabilities come from the same forward pass).
            var p = classifier.Probabilities(image);
            int top = Array.IndexOf(p, p.Max());
            Assert.Equal(classifier.Labels[top], r.TopClass);
            Assert.Equal(p[top], r.Confidence, 4);
            _out.WriteLine($"{r.Id}: {r.TopClass} {r.Confidence:0.000}, {r.Detections} objects");

            // Maps: float32, model-input H×W, in [0, 1], written where the manifest says.
            foreach (var m in summary.Methods)
            {
                using var t = Npy.Read(r.MapPaths[m]);
                Assert.Equal(new long[] { classifier.InputHeight, classifier.InputWidth }, t.shape);
                Assert.Equal(TorchSharp.torch.ScalarType.Float32, t.dtype);
                Assert.InRange(t.min().item<float>(), 0f, 1f);
                Assert.Equal(1f, t.max().item<float>(), 4);
                Assert.True(File.Exists(r.OverlayPaths[m]));
            }
        }
        Assert.Equal(8, Csv(summary.MapsManifestPath).Count);

        // The astronaut shows a person; its importance, read back from the per-image JSON, is the mean of the map over the box.
        // Cross-check in input pixels: the emotion input stretches 320×320 to 64×64, so the box scaled by 0.2 covers the same
        // region of the .npy map; the two means differ only by the resampling at the box edges.
        var astro = summary.Images.Single(i => i.Id == "astronaut");
        using var json = JsonDocument.Parse(File.ReadAllText(astro.JsonPath));
        var person = json.RootElement.GetProperty("detections").EnumerateArray().First(d => d.GetProperty("label").GetString() == "person");
        var box = person.GetProperty("box").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        double importance = person.GetProperty("cam").GetProperty("gradcam").GetProperty("importance").GetDouble();
        using (var map = Npy.Read(astro.MapPaths["gradcam"]))
        {
            var v = map.data<float>().ToArray();
            double sum = 0; int n = 0;
            for (int y = 0; y < 64; y++)
                for (int x = 0; x < 64; x++)
                    if (x + 0.5 >= box[0] * 0.2 && x + 0.5 < box[2] * 0.2 && y + 0.5 >= box[1] * 0.2 && y + 0.5 < box[3] * 0.2) { sum += v[y * 64 + x]; n++; }
            _out.WriteLine($"astronaut person importance {importance:0.0000}, input-pixel mean {sum / n:0.0000}");
            Assert.Equal(sum / n, importance, 1);
            Assert.InRange(Math.Abs(sum / n - importance), 0, 0.03);
        }
        double area = person.GetProperty("cam").GetProperty("gradcam").GetProperty("area_share").GetDouble();
        Assert.Equal((box[2] - box[0]) * (box[3] - box[1]) / (320.0 * 320), area, 2);

        // Corpus tables: person counted once per image, in the class of its image.
        var objects = Csv(summary.ObjectsTablePath);
        var personImages = objects.Where(o => o["category"] == "person" && o["method"] == "gradcam").Select(o => o["id"]).Distinct().ToList();
        Assert.Contains("astronaut", personImages);
        var cc = Csv(summary.ClassCategoryTablePath).Where(r => r["method"] == "gradcam" && r["category"] == "person").ToList();
        Assert.Equal(personImages.Count, cc.Sum(r => int.Parse(r["count"])));
        Assert.All(cc, r => Assert.Equal(personImages.Count, int.Parse(r["category_images"])));
        Assert.Equal(1, int.Parse(cc.Single(r => r["class"] == astro.TopClass)["count"]));

        // Associations for both methods and both measures over the same variables; agreement rows for both measures.
        var assoc = Csv(summary.AssociationTablePath);
        Assert.Equal(new[] { "dice", "jaccard" }, assoc.Select(a => a["measure"]).Distinct().OrderBy(s => s));
        Assert.Equal(2, Csv(summary.AgreementTablePath).Count);
        Assert.Equal(2, summary.Agreements.Count);
        Assert.Equal(2 * 2 + 2 + 1, summary.Charts.Count);

        // Modifications: grayscale applies to every photo, removal only where a person was found, paste where no cat was.
        var mods = Csv(summary.ModificationsTablePath!);
        Assert.Equal(4, int.Parse(mods.Single(m => m["modification"] == "grayscale" && m["group"] == "all")["images"]));
        Assert.Equal(personImages.Count, int.Parse(mods.Single(m => m["modification"] == "remove:person:grey" && m["group"] == "all")["images"]));
        var catImages = objects.Where(o => o["category"] == "cat" && o["method"] == "gradcam").Select(o => o["id"]).Distinct().Count();
        Assert.True(catImages >= 1);
        Assert.Equal(4 - catImages, int.Parse(mods.Single(m => m["modification"] == "paste:cat" && m["group"] == "all")["images"]));
        var outcomes = Csv(summary.ModificationOutcomesTablePath!);
        foreach (var o in outcomes.Where(o => o["modification"] == "grayscale"))
        {
            var r = summary.Images.Single(i => i.Id == o["id"]);
            Assert.Equal(o["original_class"], r.TopClass);
            // Edited images are classified in batches; each row must equal the classifier on that one image.
            var before = classifier.Probabilities(ImageDecoder.Decode(r.Path));
            var after = classifier.Probabilities(ImageEditor.Grayscale(ImageDecoder.Decode(r.Path)));
            int top = Array.IndexOf(before, before.Max());
            Assert.Equal(classifier.Labels[Array.IndexOf(after, after.Max())], o["modified_class"]);
            Assert.Equal(after[top] - before[top], D(o["probability_change"]), 4);
        }

        var html = File.ReadAllText(summary.ReportPath);
        Assert.Contains("Agreement between CAM methods", html);
        Assert.Contains("data:image/png;base64,", html);
        Assert.True(new FileInfo(summary.GalleryPath).Length > 10_000);
        // Both pages load in a browser without errors, broken images or empty sections.
        foreach (var page in new[] { summary.ReportPath, summary.GalleryPath })
        {
            var check = HeadlessChromium.Check(page);
            Assert.Empty(check.ConsoleErrors);
            Assert.Empty(check.BrokenImages);
            Assert.Empty(check.EmptySections);
            Assert.True(check.Images >= 8, $"{Path.GetFileName(page)} shows {check.Images} images");
        }
    }

    [Fact]
    public void Cli_explain_writes_the_report_and_maps_errors_to_exit_codes()
    {
        _ = TfJsReference.HumanModelsDir;
        var photos = TfJsReference.FixturePath("Photos");
        var manifest = Path.Combine(_dir, "list.txt");
        File.WriteAllLines(manifest, new[] { Path.Combine(photos, "astronaut.png"), Path.Combine(photos, "coffee.png") });
        var outDir = Path.Combine(_dir, "out");
        var err = new StringWriter();
        var stdout = new StringWriter();
        int code = CliApp.Run(new[] { "explain", "zoo:emotion", "--images", manifest, "--method", "gradcam,eigencam", "--layer", EmotionLayer,
            "--detector", "zoo:nanodet", "--modify", "hflip", "--categories", "person,cup", "--permutations", "100", "--out", outDir }, stdout, err);
        _out.WriteLine(err.ToString());
        Assert.Equal(0, code);
        Assert.Equal(Path.Combine(outDir, "report.html"), stdout.ToString().Trim().Split('\n').Last().Trim());
        Assert.True(File.Exists(Path.Combine(outDir, "maps", "astronaut.eigencam.npy")));
        Assert.True(File.Exists(Path.Combine(outDir, "images", "coffee.json")));
        Assert.Equal(2, Csv(Path.Combine(outDir, "tables", "images.csv")).Count);
        // --categories restricts the corpus tables (not the per-box table) to the chosen categories.
        Assert.Equal(new[] { "cup", "person" }, Csv(Path.Combine(outDir, "tables", "class_category.csv")).Select(r => r["category"]).Distinct().OrderBy(c => c));
        Assert.Contains(Csv(Path.Combine(outDir, "tables", "objects.csv")), r => r["category"] != "person" && r["category"] != "cup");

        Assert.Equal(1, CliApp.Run(new[] { "explain", "zoo:emotion", "--images", manifest, "--method", "gradcamx", "--layer", EmotionLayer, "--out", outDir }, new StringWriter(), err = new StringWriter()));
        Assert.Contains("unknown CAM method 'gradcamx'", err.ToString());
        Assert.Equal(1, CliApp.Run(new[] { "explain", "zoo:emotion", "--images", manifest, "--layer", EmotionLayer, "--modify", "sharpen", "--out", outDir }, new StringWriter(), new StringWriter()));
        Assert.Equal(2, CliApp.Run(new[] { "explain", "zoo:emotion", "--images", Path.Combine(_dir, "nothing"), "--layer", EmotionLayer, "--out", outDir }, new StringWriter(), new StringWriter()));
        var help = new StringWriter();
        CliApp.Run(new[] { "explain", "--help" }, help, new StringWriter());
        Assert.Contains("Example:", help.ToString());
    }

    /// <summary>
    /// A tiny CNN (16×16 RGB → conv 3×3 → ReLU → global average → linear, 3 classes) whose first channel responds to bright red:
    /// images with a red square score class "red" highest, the others class "plain". Grad-CAM of "red" must land on the square.
    /// </summary>
    static string TinyModel(string dir)
    {
        var w = new float[4 * 3 * 3 * 3];
        for (int k = 0; k < 9; k++) { w[k] = 1f / 9; w[9 + k] = -1f / 9; }                       // ch0: R − G over 3×3 (plus bias below)
        for (int k = 0; k < 9; k++) { w[27 + 9 + k] = 1f / 9; w[54 + 18 + k] = 0.5f / 9; w[81 + k] = 0.2f / 9; }
        var b = new float[] { -0.3f, 0, 0, 0 };
        var fc = new float[] { 40, 0, 0, 0, /* plain */ -40, 0, 0, 0, /* other */ 0, 0.1f, 0.1f, 0.1f };
        var fb = new float[] { 0, 1, 0 };
        var path = Path.Combine(dir, "tiny.onnx");
        new OnnxModelBuilder().Input("x", -1, 3, 16, 16).Output("logits", -1, 3)
            .Initializer("w", new long[] { 4, 3, 3, 3 }, w).Initializer("b", new long[] { 4 }, b)
            .Initializer("fc", new long[] { 3, 4 }, fc).Initializer("fb", new long[] { 3 }, fb)
            .Node("Conv", new[] { "x", "w", "b" }, new[] { "conv" }, null, OnnxModelBuilder.Ints("kernel_shape", 3, 3), OnnxModelBuilder.Ints("pads", 1, 1, 1, 1))
            .Node("Relu", new[] { "conv" }, new[] { "relu" })
            .Node("GlobalAveragePool", new[] { "relu" }, new[] { "gap" })
            .Node("Flatten", new[] { "gap" }, new[] { "flat" })
            .Node("Gemm", new[] { "flat", "fc", "fb" }, new[] { "logits" }, null, OnnxModelBuilder.Int("transB", 1))
            .Save(path);
        return path;
    }

    [Fact]
    public void Ten_thousand_generated_images_in_bounded_memory()
    {
        // 10,000 corpus entries listed in an id,path manifest over 500 generated 16×16 PNGs (writing 10,000 files first
        // would double the test's time on a loaded machine; every entry is still decoded, explained and written on its own).
        const int N = 10_000, Files = 500;
        var imgDir = Path.Combine(_dir, "imgs");
        Directory.CreateDirectory(imgDir);
        var rng = new Random(17);
        var fileObjects = new List<DetectedObject>[Files];
        for (int f = 0; f < Files; f++)
        {
            var px = new byte[16 * 16 * 3];
            for (int j = 0; j < px.Length; j++) px[j] = (byte)rng.Next(0, 60);   // dark noise
            var objs = new List<DetectedObject>();
            // A grey "patch" in every image (the model ignores it); a red 5×5 square in 60% of them.
            int gx = rng.Next(0, 12), gy = rng.Next(0, 12);
            Fill(px, gx, gy, 4, 90, 90, 90);
            objs.Add(new DetectedObject(1, "patch", 0.8f, gx, gy, gx + 4, gy + 4));
            if (rng.NextDouble() < 0.6)
            {
                int sx = rng.Next(0, 11), sy = rng.Next(0, 11);
                Fill(px, sx, sy, 5, 250, 20, 20);
                objs.Add(new DetectedObject(0, "square", 0.9f, sx, sy, sx + 5, sy + 5));
            }
            ImageEncoder.Save(new RgbImage(16, 16, px), Path.Combine(imgDir, $"f{f:D3}.png"));
            fileObjects[f] = objs;
        }
        var annotations = new Dictionary<string, IReadOnlyList<DetectedObject>>();
        var manifest = new List<string> { "id,path" };
        int squares = 0;
        for (int i = 0; i < N; i++)
        {
            int f = rng.Next(Files);
            var id = $"g{i:D5}";
            manifest.Add($"{id},imgs/f{f:D3}.png");
            annotations[id] = fileObjects[f];
            if (fileObjects[f].Any(o => o.Label == "square")) squares++;
        }
        var manifestPath = Path.Combine(_dir, "corpus.csv");
        File.WriteAllLines(manifestPath, manifest);
        using var graph = ModelLoader.Load(TinyModel(_dir));
        var classifier = new ImageClassifier(graph, new PreprocessingSpec { Preset = "custom", ResizeExact = (16, 16), Range = ValueRange.Unit }, LabelSet.FromNames("tiny", new[] { "red", "plain", "other" }));
        var proc = Process.GetCurrentProcess();
        long rssAt2000 = 0, rssPeak = 0;
        var progress = new LayerLens.SyncProgress<WorkProgress>(p =>
        {
            if (p.Stage != "explain") return;
            proc.Refresh();
            if (rssAt2000 == 0 && p.Done >= 2000) rssAt2000 = proc.WorkingSet64;
            if (p.Done >= 2000) rssPeak = Math.Max(rssPeak, proc.WorkingSet64);
        });
        var sw = Stopwatch.StartNew();
        var outDir = Path.Combine(_dir, "out");
        var summary = CorpusExplainer.Run(new CorpusRunOptions
        {
            Images = new[] { manifestPath }, Classifier = classifier, Annotations = annotations, Overlays = false,
            Methods = new[] { "gradcam" }, Layers = new[] { "relu" }, Modifications = new[] { "remove:square" },
            OutputDir = outDir, BatchSize = 64, Permutations = 200, BootstrapResamples = 200, Seed = 2, MinImportance = 0.05,
        }, progress);
        _out.WriteLine($"{N} images in {sw.Elapsed.TotalSeconds:0.0} s; RSS at 2000 images {rssAt2000 / 1e6:0} MB, peak after {rssPeak / 1e6:0} MB");
        // Memory: maps go to disk as they are made; what stays per image is a small record, so the working set grows little.
        Assert.True(rssPeak - rssAt2000 < 250_000_000, $"RSS grew by {(rssPeak - rssAt2000) / 1e6:0} MB over 8000 images");
        Assert.Equal(N, summary.ImageCount);
        Assert.Equal(N, Directory.EnumerateFiles(Path.Combine(outDir, "maps"), "*.npy").Count());
        Assert.Equal(N, Directory.EnumerateFiles(Path.Combine(outDir, "images"), "*.json").Count());

        // The model: red iff a square is present.
        Assert.Equal(squares, summary.Images.Count(i => i.TopClass == "red"));
        // Grad-CAM of "red" points at the square and concentrates its energy there.
        var sq = Csv(summary.ObjectsTablePath).Where(o => o["method"] == "gradcam" && o["category"] == "square").ToList();
        Assert.Equal(squares, sq.Count);
        double hitRate = sq.Average(o => D(o["pointing_hit"]));
        double ratio = sq.Average(o => D(o["ratio"]));
        _out.WriteLine($"square: pointing hit rate {hitRate:0.000}, energy/area ratio {ratio:0.00}");
        Assert.True(hitRate > 0.95, $"hit rate {hitRate}");
        Assert.True(ratio > 2, $"ratio {ratio}");
        // Class × category: square appears only in class red: enrichment N / N_red, permutation p at its floor.
        var cell = summary.ClassCategory.First(c => c.Class == "red" && c.Category == "square");
        Assert.Equal(squares, cell.Count);
        Assert.Equal((double)N / squares, cell.Enrichment, 9);
        Assert.Equal(1.0 / 201, cell.PValue, 12);
        // Dice(red, square) = 1 for Grad-CAM; removing the square (grey fill) turns every red image plain.
        var assoc = Csv(summary.AssociationTablePath).Single(a => a["method"] == "gradcam" && a["measure"] == "dice" && a["row"] == "red" && a["column"] == "square");
        Assert.Equal(1.0, D(assoc["value"]), 12);
        var removal = summary.ModificationEffects.Single(e => e.Modification == "remove:square:grey" && e.Group == "all");
        Assert.Equal(squares, removal.Images);
        Assert.Equal(1.0, removal.ChangeRate.Estimate, 12);
    }

    [Fact]
    public void Large_photos_are_measured_on_a_reduced_grid_with_nearly_the_same_results()
    {
        // A 64×48 photo (stretched to the tiny model's 16×16 input) with a red 20×16 block: measured at full size and on a
        // grid of at most 32 pixels (half size), the box measures agree up to the resampling at the box edges.
        var px = new byte[64 * 48 * 3];
        var rng = new Random(3);
        for (int j = 0; j < px.Length; j++) px[j] = (byte)rng.Next(0, 60);
        for (int y = 12; y < 28; y++) for (int x = 24; x < 44; x++) { int i = (y * 64 + x) * 3; px[i] = 250; px[i + 1] = 20; px[i + 2] = 20; }
        var path = Path.Combine(_dir, "big.png");
        ImageEncoder.Save(new RgbImage(64, 48, px), path);
        using var graph = ModelLoader.Load(TinyModel(_dir));
        var classifier = new ImageClassifier(graph, new PreprocessingSpec { Preset = "custom", ResizeExact = (16, 16), Range = ValueRange.Unit }, LabelSet.FromNames("tiny", new[] { "red", "plain", "other" }));
        var boxes = new Dictionary<string, IReadOnlyList<DetectedObject>> { ["big"] = new[] { new DetectedObject(0, "block", 1, 24, 12, 44, 28), new DetectedObject(1, "corner", 1, 0, 0, 16, 12) } };
        CorpusSummary RunAt(int side, string name) => CorpusExplainer.Run(new CorpusRunOptions
        {
            Images = new[] { path }, Classifier = classifier, Annotations = boxes, Methods = new[] { "gradcam" }, Layers = new[] { "relu" },
            OutputDir = Path.Combine(_dir, name), MaxAnalysisSide = side, Permutations = 0,
        });
        var full = Csv(RunAt(1024, "full").ObjectsTablePath);
        var small = Csv(RunAt(32, "small").ObjectsTablePath);
        Assert.Equal("red", Csv(Path.Combine(_dir, "full", "tables", "images.csv"))[0]["top_class"]);
        for (int k = 0; k < 2; k++)
        {
            _out.WriteLine($"{full[k]["category"]}: importance {full[k]["importance"]} vs {small[k]["importance"]}, energy {full[k]["energy_share"]} vs {small[k]["energy_share"]}");
            Assert.Equal(D(full[k]["area_share"]), D(small[k]["area_share"]), 6);   // box edges fall on whole pixels at both sizes
            Assert.InRange(Math.Abs(D(full[k]["importance"]) - D(small[k]["importance"])), 0, 0.03);
            Assert.InRange(Math.Abs(D(full[k]["energy_share"]) - D(small[k]["energy_share"])), 0, 0.03);
            Assert.Equal(full[k]["pointing_hit"], small[k]["pointing_hit"]);
        }
        Assert.True(D(full[0]["ratio"]) > 3);   // the map sits on the block
        Assert.Equal("1", full[0]["pointing_hit"]);
        Assert.Equal("0", full[1]["pointing_hit"]);
        // The overlay is drawn on the analysis grid.
        using var overlay = SkiaSharp.SKBitmap.Decode(Path.Combine(_dir, "small", "overlays", "big.gradcam.png"));
        Assert.Equal((32, 24), (overlay.Width, overlay.Height));
    }

    static void Fill(byte[] px, int x0, int y0, int size, byte r, byte g, byte b)
    {
        for (int y = y0; y < y0 + size; y++)
            for (int x = x0; x < x0 + size; x++) { int i = (y * 16 + x) * 3; px[i] = r; px[i + 1] = g; px[i + 2] = b; }
    }
}
