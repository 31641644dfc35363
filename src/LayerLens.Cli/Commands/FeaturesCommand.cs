using System.CommandLine;
using System.Globalization;
using LayerLens.Features;

namespace LayerLens.Cli.Commands;

/// <summary>`layerlens features FEATURES.h5`: what a feature store holds.</summary>
public static class FeaturesCommand
{
    public static Command Build()
    {
        var store = new Argument<string>("store") { Description = "Feature store (.h5) written by layerlens extract." };
        var cmd = new Command("features",
            "Summarise a feature store: provenance, images, and each layer's matrix; for an unfinished run, its progress.\n\n" +
            "Examples:\n" +
            "  layerlens features resnet18-gap.h5")
        { store };
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            var path = parse.GetValue(store)!;
            var o = parse.InvocationConfiguration.Output;
            var parts = FeatureExtractor.PartsDir(path);
            if (!File.Exists(path) && Directory.Exists(parts))
            {
                var shards = Directory.EnumerateFiles(parts, "block-*.shard").Count();
                var rows = Directory.EnumerateFiles(parts, "block-*.shard").Sum(s => FeatureShard.ReadHeader(s).Ids.Length);
                o.WriteLine($"{path}: incomplete; {shards} finished blocks ({rows} images) in {parts}; run the same extract command again to finish");
                return 0;
            }
            var fs = FeatureStore.Open(path);
            var p = fs.Provenance;
            o.WriteLine($"{path}: complete, {fs.Ids.Count} images x {fs.Layers.Count} layers");
            o.WriteLine($"  model        {p.Model} (sha256 {p.ModelSha256})");
            o.WriteLine($"  dataset      {p.Dataset} ({p.ImageCount} listed, {fs.SkippedCount} skipped as unreadable)");
            o.WriteLine($"  reducer      {p.Reducer} (seed {p.Seed})");
            o.WriteLine($"  layers       {p.LayerSelector}");
            o.WriteLine($"  preprocess   {p.Preprocessing}");
            o.WriteLine($"  version      LayerLens {p.LayerLensVersion}");
            var header = new[] { "dataset", "layer", "op", "depth", "rel", "shape", "dim" };
            var rowsOut = fs.Layers.Select(l => new[]
            {
                l.Dataset, l.Name, l.Op, l.DepthIndex.ToString(CultureInfo.InvariantCulture),
                l.RelativeDepth.ToString("0.000", CultureInfo.InvariantCulture), "[" + string.Join(",", l.OutputShape) + "]",
                l.Dim.ToString(CultureInfo.InvariantCulture),
            }).ToList();
            var widths = header.Select((h, i) => Math.Max(h.Length, rowsOut.Select(r => r[i].Length).DefaultIfEmpty(0).Max())).ToArray();
            o.WriteLine(string.Join("  ", header.Select((h, i) => h.PadRight(widths[i]))).TrimEnd());
            foreach (var r in rowsOut) o.WriteLine(string.Join("  ", r.Select((c, i) => c.PadRight(widths[i]))).TrimEnd());
            return 0;
        }));
        return cmd;
    }
}
