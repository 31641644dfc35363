using System.CommandLine;
using System.Globalization;
using LayerLens.Models;
using LayerLens.Readout;

namespace LayerLens.Cli.Commands;

/// <summary>`layerlens readout`: cross-validated readout of scores (e.g. memorability) from each layer's features.</summary>
public static class ReadoutCommand
{
    public static Command Build()
    {
        var features = new Option<string>("--features") { Description = "Feature store (.h5) or a plain .npy matrix [N, D] (then --ids is required).", Required = true };
        var ids = new Option<string?>("--ids") { Description = "Text file with the id of each .npy row, one per line." };
        var targets = new Option<string>("--targets") { Description = "CSV/TSV with an id column and a score column.", Required = true };
        var idColumn = new Option<string>("--id-column") { Description = "Column holding the sample ids.", DefaultValueFactory = _ => "id" };
        var targetColumn = new Option<string>("--target-column") { Description = "Column holding the score (or integer class for --model logistic).", DefaultValueFactory = _ => "score" };
        var layers = new Option<string>("--layers") { Description = "Layers to read out (all, names, globs, op:TYPE, depth:LO-HI).", DefaultValueFactory = _ => "all" };
        var model = new Option<string>("--model") { Description = "ridge (alpha by leave-one-out on each training fold), pls (25 components) or logistic.", DefaultValueFactory = _ => "ridge" };
        var cv = new Option<string>("--cv") { Description = "kfold:K[:shuffle], repeated:K:R, stratified:SPLITS:FRACTION[:COLUMN], column:NAME, lamem[:SPLITS_DIR].", DefaultValueFactory = _ => "kfold:5" };
        var seed = new Option<int>("--seed") { Description = "Seed for shuffled folds.", DefaultValueFactory = _ => 0 };
        var dropMissing = new Option<bool>("--drop-missing") { Description = "Drop rows whose score is NaN or empty (the count is reported) instead of failing." };
        var output = new Option<string>("--out") { Description = "Results CSV (one row per layer and metric).", Required = true };
        var cmd = new Command("readout",
            "Cross-validated readout per layer: ridge, PLS or logistic regression fitted on training folds only; reports per-fold values, mean and standard error of Spearman, Pearson, R² and MSE (or accuracy).\n\n" +
            "Examples:\n" +
            "  layerlens readout --features lamem.h5 --targets lamem.csv --id-column image --target-column score --cv lamem:lamem/splits --out mem.csv\n" +
            "  layerlens readout --features feats.npy --ids ids.txt --targets scores.csv --model pls --cv kfold:10 --out r.csv")
        { features, ids, targets, idColumn, targetColumn, layers, model, cv, seed, dropMissing, output };
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            var kind = parse.GetValue(model) switch
            {
                "ridge" => ReadoutModel.Ridge, "pls" => ReadoutModel.Pls, "logistic" => ReadoutModel.Logistic,
                var m => throw new LayerLensException($"--model '{m}': expected ridge, pls or logistic", ErrorKind.Usage),
            };
            var src = FeatureSource.Open(parse.GetValue(features)!, parse.GetValue(ids));
            var table = TargetTable.Read(parse.GetValue(targets)!, parse.GetValue(idColumn)!, parse.GetValue(targetColumn)!, parse.GetValue(dropMissing), kind == ReadoutModel.Logistic);
            var rows = table.RowsIn(src.Ids, src.Path);
            var folds = CrossValidation.Parse(parse.GetValue(cv)!, table.Ids,
                name => table.Columns.TryGetValue(name, out var col) ? col : throw new LayerLensException($"{table.Path}: no column '{name}' for --cv", ErrorKind.Usage),
                parse.GetValue(seed));
            var selected = LayerSelector.Parse(parse.GetValue(layers)!).Select(src.Layers);
            if (selected.Count == 0) throw new LayerLensException($"--layers '{parse.GetValue(layers)}' matches no layer in {src.Path}", ErrorKind.Usage);
            var outp = parse.InvocationConfiguration.Output;
            if (table.Dropped > 0) outp.WriteLine($"dropped {table.Dropped} rows with missing scores from {table.Path}");
            var csv = new ResultCsv("layer", "op", "depth_index", "relative_depth", "model", "cv", "metric", "mean", "sem", "folds", "n", "per_fold", "seed");
            using var rowIdx = TorchSharp.torch.tensor(rows);
            var lines = new List<string>();
            CliProgress.Run(outp, progress =>
            {
                int done = 0;
                foreach (var layer in selected)
                {
                    progress.Report(new WorkProgress("readout", done, selected.Count, "layers", layer.Name));
                    using var scope = TorchSharp.torch.NewDisposeScope();
                    var X = src.Read(layer.Name).index_select(0, rowIdx);
                    var metrics = CrossValidatedReadout.Run(X, table.Values, folds, kind, what: $"layer {layer.Name}");
                    foreach (var m in metrics)
                        csv.Add(layer.Name, layer.OpType, layer.DepthIndex, layer.RelativeDepth, parse.GetValue(model), parse.GetValue(cv), m.Metric,
                            m.Summary.Mean, m.Summary.StandardError, m.Summary.Values.Length, table.Ids.Length,
                            string.Join(';', m.Summary.Values.Select(v => v.ToString("R", CultureInfo.InvariantCulture))), parse.GetValue(seed));
                    var head = metrics[0];
                    lines.Add($"{layer.Name}: {head.Metric} {head.Summary.Mean:0.0000} ± {head.Summary.StandardError:0.0000} over {head.Summary.Values.Length} folds");
                    progress.Report(new WorkProgress("readout", ++done, selected.Count, "layers", layer.Name));
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
