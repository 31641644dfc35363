using System.CommandLine;
using System.Globalization;
using LayerLens.Sweep;

namespace LayerLens.Cli.Commands;

/// <summary>`layerlens sweep CONFIG.yaml`: models × layers × targets from one file, with analysis, plots and a report.</summary>
public static class SweepCommand
{
    public static Command Build()
    {
        var config = new Argument<string>("config") { Description = "Sweep file (YAML): images, models, targets, optional analysis and finetune sections (see docs/sweep.md)." };
        var output = new Option<string?>("--out", "-o") { Description = "Output folder (default: the config's name without extension, beside it)." };
        var resume = new Option<bool>("--resume") { Description = "Continue an interrupted sweep in --out (finished units and feature-store blocks are kept)." };
        var cmd = new Command("sweep",
            "Score every selected layer of every model on every target (memorability-like scores, neural recordings) and write one tidy table\n" +
            "(results.csv, results.parquet), the accuracy × brain-similarity analysis, plots and a self-contained report.html.\n" +
            "A killed sweep continues where it stopped with --resume.\n\n" +
            "Examples:\n" +
            "  layerlens sweep memorability.yaml --out sweep-out\n" +
            "  layerlens sweep memorability.yaml --out sweep-out --resume")
        { config, output, resume };
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var path = parse.GetValue(config)!;
            var cfg = SweepConfig.Load(path);
            var outDir = parse.GetValue(output) ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, Path.GetFileNameWithoutExtension(path));
            var state = Path.Combine(outDir, SweepRunner.StateDir);
            if (Directory.Exists(state) && Directory.EnumerateFileSystemEntries(state).Any() && !parse.GetValue(resume))
                throw new LayerLensException($"{outDir}: already holds a sweep; pass --resume to continue it, or choose another --out", ErrorKind.Usage);
            stdout.WriteLine($"sweep {cfg.Source}: {cfg.Models.Count} models x {cfg.Targets.Count} targets" +
                             (cfg.FineTune != null ? $", fine-tuning {cfg.FineTune.Models.Count}" : "") + $", seed {cfg.Seed}, output {outDir}");
            var summary = CliProgress.Run(stdout, p => SweepRunner.Run(cfg, outDir, p));
            var inv = CultureInfo.InvariantCulture;
            foreach (var c in summary.Correlations.Where(c => double.IsFinite(c.Rho)))
                stdout.WriteLine(string.Create(inv, $"spearman {c.Y} vs {c.X} ({c.Scope}, n = {c.N}): {c.Rho:0.000} [{c.Low:0.000}, {c.High:0.000}], p = {c.PValue:0.####}"));
            foreach (var b in summary.BestLayers)
                stdout.WriteLine(string.Create(inv, $"best layer {b.Model} / {b.Target}: {b.Layer} (depth {b.RelativeDepth:0.00}) {b.Metric} {b.Value:0.000}"));
            stdout.WriteLine($"wrote {summary.ResultsCsv} ({summary.Results.RowCount} rows), {Path.GetFileName(summary.ResultsParquet)}, {summary.ReportPath}" +
                             (summary.UnitsResumed > 0 ? $"; {summary.UnitsResumed} units resumed" : ""));
            return 0;
        }));
        return cmd;
    }
}
