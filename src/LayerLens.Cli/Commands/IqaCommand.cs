using System.CommandLine;
using System.Globalization;
using LayerLens.Quality.Grid;

namespace LayerLens.Cli.Commands;

/// <summary>`layerlens iqa`: scores deep distances and SSIM-family metrics against human ratings, for one model or a YAML grid.</summary>
public static class IqaCommand
{
    public static Command Build()
    {
        var config = new Argument<string?>("config") { Description = "YAML grid config (models, readouts, datasets); see docs/iqa.md. Omit to use --model/--dataset.", Arity = ArgumentArity.ZeroOrOne };
        var model = new Option<string?>("--model", "-m") { Description = "Model file or zoo:NAME; omit to score only PSNR, SSIM and MS-SSIM." };
        var dataset = new Option<string?>("--dataset", "-d") { Description = "tid2013:DIR, kadid:DIR, csiq:DIR, live:DIR or csv:FILE." };
        var synth = new Option<string?>("--distort") { Description = "Build a synthetic set from this image folder first (10 distortions x 5 levels) and score on it." };
        var maxSide = new Option<int?>("--max-side") { Description = "With --distort: scale images down to this longest side first." };
        var layers = new Option<string>("--layers") { Description = "Layers: all, names, globs, op:TYPE, depth:LO-HI.", DefaultValueFactory = _ => "op:Relu" };
        var readout = new Option<string>("--readout") { Description = "l2, lpips, stats, gram or dists (comma-separated for several).", DefaultValueFactory = _ => "lpips" };
        var outDir = new Option<string>("--out", "-o") { Description = "Folder for results.csv, results.parquet, plots/ and report.html.", Required = true };
        var seed = new Option<int?>("--seed") { Description = "Seed of bootstrap intervals and synthetic distortions (default 0; overrides the config's)." };
        var boot = new Option<int?>("--bootstrap") { Description = "Bootstrap resamples for confidence intervals (0 = none; default 1000; overrides the config's)." };
        var pre = DistanceCommand.Pre();
        var device = CommonOptions.Device();
        var cmd = new Command("iqa",
            "Score how well a model's layers (and PSNR, SSIM, MS-SSIM) agree with human image-quality ratings: " +
            "SROCC, KROCC, PLCC raw and after logistic fits, RMSE, per distortion type, higher = better. " +
            "A YAML config runs a grid of models x readouts x datasets, resumable per cell. " +
            "Writes results.csv, results.parquet, plots/ and report.html.\n\n" +
            "Examples:\n" +
            "  layerlens iqa grid.yaml --out runs/grid\n" +
            "  layerlens iqa --model resnet18.onnx --dataset tid2013:data/tid2013 --out runs/tid\n" +
            "  layerlens iqa --model resnet18.onnx --dataset csv:pairs.csv --readout dists --layers 'depth:0-0.6' --out runs/csv\n" +
            "  layerlens iqa --distort photos/ --out runs/synthetic")
        { config, model, dataset, synth, maxSide, layers, readout, outDir, seed, boot, pre, device };
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            var output = parse.InvocationConfiguration.Output;
            var dir = parse.GetValue(outDir)!;
            IqaGridConfig grid;
            if (parse.GetValue(config) is { } yaml)
            {
                if (parse.GetValue(model) != null || parse.GetValue(dataset) != null || parse.GetValue(synth) != null)
                    throw new LayerLensException("give either a config file or --model/--dataset/--distort, not both", ErrorKind.Usage);
                grid = IqaGridConfig.Load(yaml);
            }
            else
            {
                IqaGridDataset ds = parse.GetValue(synth) is { } folder
                    ? IqaGridDataset.Distorted(folder, parse.GetValue(maxSide))
                    : parse.GetValue(dataset) is { } spec ? new IqaGridDataset(spec)
                    : throw new LayerLensException("give a config file, --dataset KIND:PATH or --distort FOLDER", ErrorKind.Usage);
                var overrides = DistanceCommand.ParsePre(parse.GetValue(pre)).ToDictionary(kv => kv.Key, kv => kv.Value);
                var models = parse.GetValue(model) is { } m
                    ? new[] { new IqaGridModel(m, parse.GetValue(layers)!) { Preprocessing = overrides.Count > 0 ? overrides : null } }
                    : Array.Empty<IqaGridModel>();
                grid = new IqaGridConfig(models,
                    parse.GetValue(readout)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), new[] { ds })
                {
                    Title = models.Length > 0 ? $"Image quality: {models[0].Label} on {ds.Label}" : $"Image quality: classic metrics on {ds.Label}",
                };
            }
            grid = grid with
            {
                Seed = parse.GetValue(seed) ?? grid.Seed,
                Bootstrap = parse.GetValue(boot) ?? grid.Bootstrap,
                Device = parse.GetResult(device) is { Implicit: false } ? parse.GetValue(device)! : grid.Device,
            };
            var summary = CliProgress.Run(output, progress => IqaGrid.Run(grid, dir, progress));
            output.WriteLine($"{summary.CellsComputed + summary.CellsReused} cells ({summary.CellsReused} reused); results in {summary.ResultsCsv}, report {summary.ReportPath}");
            var t = summary.Table;
            for (int i = 0; i < t.RowCount; i++)
                if (t.Text(i, "distortion") == "all")
                    output.WriteLine($"  {t.Text(i, "dataset"),-16} {t.Text(i, "model"),-14} {t.Text(i, "readout"),-8} {t.Text(i, "layer"),-32} SROCC {t.Number(i, "srocc").ToString("0.0000", CultureInfo.InvariantCulture)}  PLCC {t.Number(i, "plcc").ToString("0.0000", CultureInfo.InvariantCulture)}");
            return 0;
        }));
        return cmd;
    }
}
