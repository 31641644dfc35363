using System.CommandLine;
using System.Globalization;
using LayerLens.Models;
using LayerLens.Quality.Datasets;
using LayerLens.Quality.Distances;
using LayerLens.Quality.Distortions;
using LayerLens.Quality.Evaluation;

namespace LayerLens.Cli.Commands;

/// <summary>`layerlens iqa`: scores deep distances and SSIM-family metrics against human ratings.</summary>
public static class IqaCommand
{
    public static Command Build()
    {
        var model = new Option<string?>("--model", "-m") { Description = "Model file; omit to score only PSNR, SSIM and MS-SSIM." };
        var dataset = new Option<string?>("--dataset", "-d") { Description = "tid2013:DIR, kadid:DIR, csiq:DIR, live:DIR or csv:FILE." };
        var synth = new Option<string?>("--distort") { Description = "Build a synthetic set from this image folder first (10 distortions x 5 levels) and score on it." };
        var layers = new Option<string>("--layers") { Description = "Layers: all, names, globs, op:TYPE, depth:LO-HI.", DefaultValueFactory = _ => "op:Relu" };
        var readout = new Option<string>("--readout") { Description = "l2, lpips, stats, gram or dists.", DefaultValueFactory = _ => "lpips" };
        var outDir = new Option<string>("--out", "-o") { Description = "Folder for results.csv and results.parquet.", Required = true };
        var seed = new Option<int>("--seed") { Description = "Seed of bootstrap intervals and synthetic distortions.", DefaultValueFactory = _ => 0 };
        var boot = new Option<int>("--bootstrap") { Description = "Bootstrap resamples for confidence intervals (0 = none).", DefaultValueFactory = _ => 1000 };
        var pre = DistanceCommand.Pre();
        var device = CommonOptions.Device();
        var cmd = new Command("iqa",
            "Score how well a model's layers (and PSNR, SSIM, MS-SSIM) agree with human image-quality ratings: " +
            "SROCC, KROCC, PLCC raw and after logistic fits, RMSE, per distortion type, higher = better.\n\n" +
            "Examples:\n" +
            "  layerlens iqa --model resnet18.onnx --dataset tid2013:data/tid2013 --out runs/tid\n" +
            "  layerlens iqa --model resnet18.onnx --dataset csv:pairs.csv --readout dists --layers 'depth:0-0.6' --out runs/csv\n" +
            "  layerlens iqa --distort photos/ --out runs/synthetic")
        { model, dataset, synth, layers, readout, outDir, seed, boot, pre, device };
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            var output = parse.InvocationConfiguration.Output;
            var dir = parse.GetValue(outDir)!;
            IqaDataset ds;
            if (parse.GetValue(synth) is { } folder)
            {
                var csv = DistortedSet.Build(folder, Path.Combine(dir, "distorted-set"), parse.GetValue(seed));
                ds = IqaDatasets.Csv(csv);
            }
            else if (parse.GetValue(dataset) is { } spec) ds = IqaDataset.Open(spec);
            else throw new LayerLensException("give --dataset KIND:PATH or --distort FOLDER", ErrorKind.Usage);

            var modelPath = parse.GetValue(model);
            using var graph = modelPath == null ? null : ModelLoader.Load(modelPath, ComputeDevice.Parse(parse.GetValue(device)!));
            using var pp = modelPath == null ? null : DistanceCommand.Preprocessor(modelPath, parse.GetValue(pre));
            var selected = graph == null ? Array.Empty<string>()
                : LayerSelector.Parse(parse.GetValue(layers)!).Select(graph.Layers).Select(l => l.Name).ToArray();
            if (graph != null && selected.Length == 0)
                throw new LayerLensException($"--layers '{parse.GetValue(layers)}' selects no layer of {graph.Name}", ErrorKind.Usage);
            var rows = IqaBenchmark.Run(ds, graph, pp, selected, graph == null ? null : FeatureReadout.Parse(parse.GetValue(readout)!),
                new IqaRunOptions { Evaluation = new EvaluationOptions { Seed = parse.GetValue(seed), BootstrapResamples = parse.GetValue(boot) } });
            var path = Path.Combine(dir, "results.csv");
            IqaBenchmark.WriteCsv(rows, path);
            IqaBenchmark.WriteParquet(rows, Path.Combine(dir, "results.parquet"));
            output.WriteLine($"{ds.Name}: {ds.Pairs.Count} pairs; results in {path}");
            foreach (var r in rows.Where(r => r.DistortionType == "all"))
                output.WriteLine($"  {r.Readout,-8} {r.Layer,-32} SROCC {r.Scores.Srocc.ToString("0.0000", CultureInfo.InvariantCulture)}  PLCC {r.Scores.Plcc.ToString("0.0000", CultureInfo.InvariantCulture)}");
            return 0;
        }));
        return cmd;
    }
}
