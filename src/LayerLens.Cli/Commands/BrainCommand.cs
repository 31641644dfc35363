using System.CommandLine;
using System.Globalization;
using LayerLens.Brain;
using LayerLens.Models;
using LayerLens.Readout;

namespace LayerLens.Cli.Commands;

/// <summary>`layerlens brain`: Brain-Score-style similarity of each layer to neural recordings.</summary>
public static class BrainCommand
{
    public static Command Build()
    {
        var features = new Option<string>("--features") { Description = "Feature store (.h5) or a plain .npy matrix [N, D] (then --ids is required).", Required = true };
        var ids = new Option<string?>("--ids") { Description = "Text file with the id (stimulus_id) of each .npy row, one per line." };
        var neural = new Option<string>("--neural") { Description = "Neural assembly: netCDF4/HDF5 file, or a folder with presentations.csv, neuroids.csv, responses.npy.", Required = true };
        var region = new Option<string?>("--region") { Description = "Only neuroids of this region (e.g. IT, V4)." };
        var metric = new Option<string>("--metric") { Description = "pls (Brain-Score neural predictivity), ridge, rsa, rsa-euclidean, rsa-tau, cka, cka-rbf.", DefaultValueFactory = _ => "pls" };
        var layers = new Option<string>("--layers") { Description = "Layers to score (all, names, globs, op:TYPE, depth:LO-HI).", DefaultValueFactory = _ => "all" };
        var splits = new Option<int>("--splits") { Description = "Cross-validation splits (and split-half ceiling splits).", DefaultValueFactory = _ => 10 };
        var seed = new Option<int>("--seed") { Description = "Seed for splits and repetition halves.", DefaultValueFactory = _ => 1 };
        var output = new Option<string>("--out") { Description = "Results CSV (per layer: raw, ceiling, ceiled, error).", Required = true };
        var cmd = new Command("brain",
            "Brain similarity per layer: neural predictivity (PLS-25 or ridge on 10 stratified 90/10 splits, median Pearson over neuroids), RSA or CKA, each with a split-half ceiling over repetitions.\n\n" +
            "Examples:\n" +
            "  layerlens brain --features hvm.h5 --neural MajajHong2015.nc --region IT --out it.csv\n" +
            "  layerlens brain --features feats.npy --ids stimuli.txt --neural neural/ --metric rsa --out rsa.csv")
        { features, ids, neural, region, metric, layers, splits, seed, output };
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            var src = FeatureSource.Open(parse.GetValue(features)!, parse.GetValue(ids));
            using var full = NeuralAssembly.Read(parse.GetValue(neural)!);
            var assembly = full.SelectRegion(parse.GetValue(region));
            var selected = LayerSelector.Parse(parse.GetValue(layers)!).Select(src.Layers);
            if (selected.Count == 0) throw new LayerLensException($"--layers '{parse.GetValue(layers)}' matches no layer in {src.Path}", ErrorKind.Usage);
            int n = parse.GetValue(splits), s = parse.GetValue(seed);
            var m = parse.GetValue(metric)!;
            if (!BrainMetrics.Names.Contains(m))
                throw new LayerLensException($"--metric '{m}': expected pls, ridge, rsa, rsa-euclidean, rsa-tau, cka or cka-rbf", ErrorKind.Usage);
            var outp = parse.InvocationConfiguration.Output;
            var csv = new ResultCsv("layer", "op", "depth_index", "relative_depth", "region", "metric", "raw", "raw_error", "ceiling", "ceiled", "ceiled_error", "stimuli", "neuroids", "splits", "per_split", "seed");
            var lines = new List<string>();
            CliProgress.Run(outp, progress =>
            {
                int done = 0;
                foreach (var layer in selected)
                {
                    progress.Report(new WorkProgress("brain similarity", done, selected.Count, "layers", layer.Name));
                    using var scope = TorchSharp.torch.NewDisposeScope();
                    var X = src.Read(layer.Name);
                    var score = BrainMetrics.Score(m, X, src.Ids, assembly, n, s);
                    csv.Add(layer.Name, layer.OpType, layer.DepthIndex, layer.RelativeDepth, parse.GetValue(region) ?? "all", score.Metric, score.Raw, score.RawError,
                        score.Ceiling, score.Ceiled, score.CeiledError, score.Stimuli, score.Neuroids, score.PerSplit.Length,
                        string.Join(';', score.PerSplit.Select(v => v.ToString("R", CultureInfo.InvariantCulture))), score.Seed);
                    lines.Add($"{layer.Name}: raw {score.Raw:0.0000} ± {score.RawError:0.0000}, ceiling {score.Ceiling:0.0000}, ceiled {score.Ceiled:0.0000}");
                    progress.Report(new WorkProgress("brain similarity", ++done, selected.Count, "layers", layer.Name));
                }
            });
            foreach (var line in lines) outp.WriteLine(line);
            csv.Write(parse.GetValue(output)!);
            outp.WriteLine($"wrote {parse.GetValue(output)}");
            return 0;
        }));
        return cmd;
    }
}
