using System.Diagnostics;
using System.Text.Json;
using LayerLens.Images;
using LayerLens.Models;
using LayerLens.Preprocessing;
using LayerLens.Quality.Datasets;
using LayerLens.Quality.Distances;
using LayerLens.Quality.Evaluation;
using LayerLens.Quality.Grid;
using LayerLens.Reports;
using LayerLens.Tests.Reports;
using static TorchSharp.torch;

namespace LayerLens.Tests.Quality;

public sealed class IqaGridTests : IDisposable
{
    readonly string _root = TestPaths.NewTempDir();
    public void Dispose() { try { Directory.Delete(_root, true); } catch (IOException) { } }

    static string Model => TestPaths.DemoModel;
    static readonly IReadOnlyDictionary<string, string> Raw = new Dictionary<string, string> { ["preset"] = "raw" };

    /// <summary>Two small photographs (crops of the quality fixtures) in a folder of their own.</summary>
    string Photos(int side = 64)
    {
        var dir = Path.Combine(_root, "photos");
        Directory.CreateDirectory(dir);
        foreach (var name in new[] { "coffee96.npy", "chelsea96.npy" })
        {
            using var u8 = QualityFixtures.Image(name);
            using var img = u8[TensorIndex.Colon, TensorIndex.Slice(0, side), TensorIndex.Slice(0, side)].to_type(ScalarType.Float32) / 255;
            ImageEncoder.Save(RgbImage.FromChwTensor(img), Path.Combine(dir, Path.GetFileNameWithoutExtension(name) + ".png"));
        }
        return dir;
    }

    [Fact]
    public void Yaml_config_reads_models_readouts_datasets_and_lpips_relative_to_its_folder()
    {
        var yaml = """
            title: Grid
            seed: 7
            bootstrap: 20
            models:
              - model: nets/a.onnx
                layers: depth:0-0.5
                preprocessing: {preset: raw, resize: 32x32}
              - zoo:emotion
            readouts: [l2, dists]
            datasets:
              - tid2013:data/tid
              - csv: pairs.csv
                name: mine
              - distort: photos
                max_side: 128
                levels: [1, 5]
            lpips:
              model: lpips/alex.onnx
              weights: lpips/alex.json
            """;
        var c = IqaGridConfig.Parse(yaml, "/base");
        Assert.Equal("Grid", c.Title);
        Assert.Equal(7, c.Seed);
        Assert.Equal(20, c.Bootstrap);
        Assert.Equal(new[] { "/base/nets/a.onnx", "zoo:emotion" }, c.Models.Select(m => m.Model));
        Assert.Equal(new[] { "a", "emotion" }, c.Models.Select(m => m.Label));
        Assert.Equal("depth:0-0.5", c.Models[0].Layers);
        Assert.Equal("op:Relu", c.Models[1].Layers);
        Assert.Equal("32x32", c.Models[0].Preprocessing!["resize"]);
        Assert.Equal(new[] { "l2", "dists" }, c.Readouts);
        Assert.Equal(new[] { "tid2013:/base/data/tid", "csv:/base/pairs.csv", "distort:/base/photos" }, c.Datasets.Select(d => d.Spec));
        Assert.Equal(new[] { "tid2013", "mine", "photos-distorted" }, c.Datasets.Select(d => d.Label));
        Assert.Equal(128, c.Datasets[2].MaxSide);
        Assert.Equal(new[] { 1, 5 }, c.Datasets[2].Levels!);
        Assert.Equal("/base/lpips/alex.json", c.Lpips!.Weights);
    }

    [Fact]
    public void Yaml_errors_name_the_file_and_line()
    {
        var path = Path.Combine(_root, "grid.yaml");
        File.WriteAllText(path, "models:\n  - model: a.onnx\n    layer: op:Relu\ndatasets: [csv:x.csv]\n");
        var e = Assert.Throws<LayerLensException>(() => IqaGridConfig.Load(path));
        Assert.Contains($"{path}:3:", e.Message);
        Assert.Contains("layer", e.Message);

        File.WriteAllText(path, "models: [a.onnx]\nreadouts: [l2, nope]\ndatasets: [csv:x.csv]\n");
        e = Assert.Throws<LayerLensException>(() => IqaGridConfig.Load(path));
        Assert.Contains($"{path}:2:", e.Message);
        Assert.Contains("nope", e.Message);

        File.WriteAllText(path, "models: [a.onnx]\ndatasets:\n  - distort: p\n    levels: [0, 9]\n");
        e = Assert.Throws<LayerLensException>(() => IqaGridConfig.Load(path));
        Assert.Contains($"{path}:4:", e.Message);

        File.WriteAllText(path, "models: [a.onnx\ndatasets: x\n");
        e = Assert.Throws<LayerLensException>(() => IqaGridConfig.Load(path));
        Assert.Matches($@"{System.Text.RegularExpressions.Regex.Escape(path)}:\d+: not valid YAML", e.Message);

        var (code, _, err) = TestPaths.Cli("iqa", path, "--out", Path.Combine(_root, "o"));
        Assert.Equal(2, code);
        Assert.Contains(path, err);
    }

    static double Cell(TidyTable t, string model, string layer, string readout, string distortion, string column)
    {
        var rows = Enumerable.Range(0, t.RowCount).Where(i => t.Text(i, "model") == model && t.Text(i, "layer") == layer
            && t.Text(i, "readout") == readout && t.Text(i, "distortion") == distortion).ToList();
        Assert.True(rows.Count == 1, $"{rows.Count} rows for {model}/{layer}/{readout}/{distortion}");
        return t.Number(rows[0], column);
    }

    [Fact]
    public void Grid_table_equals_the_single_evaluation_and_its_report_embeds_the_plots()
    {
        var config = new IqaGridConfig(
            new[] { new IqaGridModel(Model, "op:Relu") { Name = "tiny", Preprocessing = Raw } },
            new[] { "l2", "dists" },
            new[] { IqaGridDataset.Distorted(Photos(), maxSide: 48, levels: new[] { 1, 3, 5 }) })
        { Seed = 3, Bootstrap = 50 };
        var outDir = Path.Combine(_root, "grid");
        var summary = IqaGrid.Run(config, outDir);
        Assert.Equal(3, summary.CellsComputed);
        Assert.Equal(0, summary.CellsReused);

        // The same set scored directly, one readout at a time.
        var csv = Directory.GetFiles(Path.Combine(outDir, "datasets"), "pairs.csv", SearchOption.AllDirectories).Single();
        var ds = IqaDatasets.Csv(csv);
        Assert.Equal(2 * 10 * 3, ds.Pairs.Count);
        using var graph = ModelLoader.Load(Model);
        using var pp = new ImagePreprocessor(PreprocessingSpec.FromPreset("raw"));
        var layers = LayerSelector.Parse("op:Relu").Select(graph.Layers).Select(l => l.Name).ToArray();
        var options = new IqaRunOptions { Evaluation = new EvaluationOptions { Seed = 3, BootstrapResamples = 50 } };
        var single = new[] { "l2", "dists" }.SelectMany(r => IqaBenchmark.Run(ds, graph, pp, layers, FeatureReadout.Parse(r), options)
            .Where(x => r == "l2" || x.Model != "-")).ToList();
        var t = summary.Table;
        Assert.Equal(single.Count, t.RowCount);
        foreach (var row in single)
        {
            var model = row.Model == "-" ? "-" : "tiny";
            foreach (var (col, v) in new[] { ("srocc", row.Scores.Srocc), ("krocc", row.Scores.Krocc), ("plcc", row.Scores.Plcc),
                         ("plcc4", row.Scores.Plcc4), ("rmse5", row.Scores.Rmse5), ("srocc_low", row.Scores.SroccInterval?.Low ?? double.NaN) })
            {
                var g = Cell(t, model, row.Layer, row.Readout, row.DistortionType, col);
                Assert.True(double.IsNaN(v) ? double.IsNaN(g) : Math.Abs(g - v) <= 1e-12, $"{model}/{row.Layer}/{row.Readout}/{row.DistortionType} {col}: grid {g}, single {v}");
            }
        }
        // Real numbers: SSIM orders the levels, and the deep layers do too.
        Assert.True(Cell(t, "-", "-", "ssim", "all", "srocc") > 0.5);
        Assert.True(Cell(t, "tiny", "combined", "l2", "all", "srocc") > 0.5);
        Assert.Equal(layers.Length, Enumerable.Range(0, t.RowCount).Count(i => t.Text(i, "readout") == "l2" && t.Text(i, "distortion") == "all" && t.Text(i, "layer") != "combined"));

        // The CSV and the Parquet file hold the same table.
        var back = TidyTable.ReadParquet(summary.ResultsParquet);
        Assert.Equal(t.ToCsv(), back.ToCsv());
        Assert.Equal(t.ToCsv(), File.ReadAllText(summary.ResultsCsv));

        // Plots: a depth curve and a comparison chart for the dataset, saved and embedded.
        Assert.Equal(2, summary.Plots.Count);
        Assert.Contains(summary.Plots, p => p.Title.Contains("relative layer depth"));
        Assert.Contains(summary.Plots, p => p.Title.Contains("agreement"));
        foreach (var p in summary.Plots)
        {
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, p.Png.Take(4).ToArray());
            Assert.Contains("<svg", p.Svg);
        }
        foreach (var f in new[] { "photos-distorted-depth", "photos-distorted-comparison" })
        {
            Assert.True(File.Exists(Path.Combine(outDir, "plots", f + ".png")), f);
            Assert.True(File.Exists(Path.Combine(outDir, "plots", f + ".svg")), f);
        }
        var html = File.ReadAllText(summary.ReportPath);
        foreach (var p in summary.Plots) Assert.Contains(Convert.ToBase64String(p.Png), html);
        Assert.Contains("SSIM", html);
        Assert.Contains(System.Net.WebUtility.HtmlEncode("tiny · l2"), html);
        var page = HeadlessChromium.Check(summary.ReportPath);
        Assert.Empty(page.BrokenImages);
        Assert.Empty(page.ConsoleErrors);
        Assert.Empty(page.EmptySections);
        Assert.Equal(2, page.Images);

        // A second run reuses every cell and writes the same table.
        var again = IqaGrid.Run(config, outDir);
        Assert.Equal(0, again.CellsComputed);
        Assert.Equal(3, again.CellsReused);
        Assert.Equal(t.ToCsv(), again.Table.ToCsv());
    }

    [Fact]
    public void Lpips_baseline_with_unit_weights_equals_the_lpips_readout_of_the_same_layers()
    {
        using var graph = ModelLoader.Load(Model);
        var layers = LayerSelector.Parse("op:Relu").Select(graph.Layers).Select(l => l.Name).Take(2).ToArray();
        var dd = new DeepDistance(graph, layers, new LpipsReadout());
        using var f = dd.Features(rand(1, 3, 32, 32));
        var weights = layers.ToDictionary(l => l, l => Enumerable.Repeat(1.0, (int)f.ByLayer[l].shape[1]).ToArray());
        var wpath = Path.Combine(_root, "weights.json");
        File.WriteAllText(wpath, JsonSerializer.Serialize(new { layers = weights }));
        var config = new IqaGridConfig(
            new[] { new IqaGridModel(Model, string.Join(",", layers)) { Name = "tiny", Preprocessing = Raw } },
            new[] { "lpips" },
            new[] { IqaGridDataset.Distorted(Photos(), maxSide: 40, levels: new[] { 2, 4 }) })
        { Lpips = new IqaLpipsBaseline(Model, wpath) { Preprocessing = Raw }, Bootstrap = 0 };
        var s = IqaGrid.Run(config, Path.Combine(_root, "lp"));
        var t = s.Table;
        Assert.Equal(Cell(t, "tiny", "combined", "lpips", "all", "srocc"), Cell(t, "LPIPS", "combined", "lpips", "all", "srocc"), 12);
        Assert.Equal(Cell(t, "tiny", "combined", "lpips", "all", "plcc"), Cell(t, "LPIPS", "combined", "lpips", "all", "plcc"), 12);
        // LPIPS is a baseline: a bar of its own in the comparison chart.
        var html = File.ReadAllText(s.ReportPath);
        Assert.Contains("Baseline LPIPS", html);

        // Zero weights on the first layer: the baseline now follows the second layer alone.
        weights[layers[0]] = weights[layers[0]].Select(_ => 0.0).ToArray();
        File.WriteAllText(wpath, JsonSerializer.Serialize(new { layers = weights }));
        var s2 = IqaGrid.Run(config, Path.Combine(_root, "lp"));
        Assert.Equal(1, s2.CellsComputed); // the weights file changed, the other cells did not
        Assert.Equal(Cell(s2.Table, "tiny", layers[1], "lpips", "all", "srocc"), Cell(s2.Table, "LPIPS", "combined", "lpips", "all", "srocc"), 12);
    }

    [Fact]
    public void Grid_killed_after_its_first_cell_resumes_and_ends_with_the_same_table()
    {
        var photos = Photos();
        var yaml = Path.Combine(_root, "grid.yaml");
        File.WriteAllText(yaml, $"""
            seed: 5
            bootstrap: 200
            models:
              - model: {Model}
                name: a
                preprocessing: {"{"}preset: raw{"}"}
              - model: {Model}
                name: b
                layers: all
                preprocessing: {"{"}preset: raw{"}"}
            readouts: [l2, lpips, dists]
            datasets:
              - distort: {photos}
                max_side: 64
            """);
        var whole = Path.Combine(_root, "whole");
        var (code, output, err) = TestPaths.Cli("iqa", yaml, "--out", whole);
        Assert.True(code == 0, err + output);
        Assert.Contains("7 cells (0 reused)", output);

        var killed = Path.Combine(_root, "killed");
        var cells = Path.Combine(killed, "cells");
        int Done() => Directory.Exists(cells) ? Directory.GetFiles(cells, "*.parquet", SearchOption.AllDirectories).Length : 0;
        Assert.True(TestPaths.RunCliAndKill(new[] { "iqa", yaml, "--out", killed }, () => Done() >= 1), "the run finished before it could be killed");
        int before = Done();
        Assert.InRange(before, 1, 6);
        Assert.False(File.Exists(Path.Combine(killed, "results.csv")));

        (code, output, err) = TestPaths.Cli("iqa", yaml, "--out", killed);
        Assert.True(code == 0, err + output);
        Assert.Contains($"7 cells ({before} reused)", output);
        Assert.Empty(Directory.GetFiles(killed, "*.tmp", SearchOption.AllDirectories));
        Assert.Equal(File.ReadAllText(Path.Combine(whole, "results.csv")), File.ReadAllText(Path.Combine(killed, "results.csv")));
        Assert.Equal(TidyTable.ReadParquet(Path.Combine(whole, "results.parquet")).ToCsv(), TidyTable.ReadParquet(Path.Combine(killed, "results.parquet")).ToCsv());
    }
}

public sealed class IqaGridZooTests
{
    [Fact]
    public void Deep_distance_on_an_nhwc_graph_normalises_across_channels_not_rows()
    {
        using var graph = ModelLoader.Load("zoo:emotion");
        Assert.Equal("NHWC", graph.Metadata["layout"]);
        var layer = LayerSelector.Parse("op:Relu").Select(graph.Layers).First().Name;
        var gen = new TorchSharp.torch.Generator(11);
        using var a = rand(new long[] { 1, 64, 64, 1 }, generator: gen) * 2 - 1;
        using var b = (a + randn(new long[] { 2, 64, 64, 1 }, generator: gen) * 0.1).clamp(-1, 1);
        var dd = new DeepDistance(graph, new[] { layer }, new LpipsReadout());
        using var f = dd.Features(a);
        var got = dd.Compare(f, b).PerLayer[0];

        // By hand: activations [N, H, W, C]; unit vectors across C, squared difference summed over C, mean over H·W.
        using var run = graph.Run(cat(new[] { a, b }), new LayerLens.Models.Engine.RunOptions { Taps = new[] { layer }, KeepTaps = true });
        var act = run.Taps[layer].to_type(ScalarType.Float64);
        Assert.Equal(4, act.dim());
        var n = act / (act.square().sum(3, keepdim: true).sqrt() + 1e-10);
        var expected = (n[1..] - n[0..1]).square().sum(3).mean(new long[] { 1, 2 }).data<double>().ToArray();
        Assert.Equal(2, got.Length);
        // float32 activations of a batch of 3 and of batches of 1 and 2 differ in the last bits only.
        for (int i = 0; i < 2; i++) Assert.True(Math.Abs(expected[i] - got[i]) <= 1e-5 * expected[i], $"pair {i}: {got[i]} vs {expected[i]}");
        Assert.True(expected.All(v => v > 0));
    }

    [Fact]
    public void Zoo_model_in_a_grid_uses_its_catalogue_preprocessing()
    {
        var root = TestPaths.NewTempDir();
        var photos = Path.Combine(root, "photos");
        Directory.CreateDirectory(photos);
        foreach (var name in new[] { "astronaut96.npy", "coffee96.npy" })
        {
            using var u8 = QualityFixtures.Image(name);
            using var img = u8.to_type(ScalarType.Float32) / 255;
            ImageEncoder.Save(RgbImage.FromChwTensor(img), Path.Combine(photos, Path.GetFileNameWithoutExtension(name) + ".png"));
        }
        var config = new IqaGridConfig(new[] { new IqaGridModel("zoo:emotion", "op:Relu") }, new[] { "lpips" },
            new[] { IqaGridDataset.Distorted(photos, levels: new[] { 1, 5 }) }) { Bootstrap = 0, Baselines = false };
        var s = IqaGrid.Run(config, Path.Combine(root, "out"));
        var t = s.Table;
        var combined = Enumerable.Range(0, t.RowCount).Single(i => t.Text(i, "model") == "emotion" && t.Text(i, "layer") == "combined" && t.Text(i, "distortion") == "all");
        Assert.Equal(40, t.Number(combined, "pairs"));
        // Level 5 of every distortion is further from the reference than level 1 for most types.
        Assert.True(t.Number(combined, "srocc") > 0.3, $"SROCC {t.Number(combined, "srocc")}");
        Assert.Contains("zoo:emotion", File.ReadAllText(s.ReportPath));
        Directory.Delete(root, true);
    }
}
