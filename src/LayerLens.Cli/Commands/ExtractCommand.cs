using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using LayerLens.Datasets;
using LayerLens.Features;
using LayerLens.Models;
using LayerLens.Preprocessing;
using Spectre.Console;

namespace LayerLens.Cli.Commands;

/// <summary>`layerlens extract MODEL --images DIR|MANIFEST --out FEATURES.h5`.</summary>
public static class ExtractCommand
{
    public static Command Build()
    {
        var model = new Argument<string>("model") { Description = "Model file (.onnx)." };
        var images = new Option<string>("--images") { Description = "Image folder (recursive), CSV/TSV manifest, LaMem split .txt or MemCat CSV.", Required = true };
        var root = new Option<string?>("--root") { Description = "Folder image paths of a manifest or split file are relative to." };
        var layers = new Option<string>("--layers") { Description = "Layers to tap (all, names, globs, op:TYPE, depth:LO-HI).", DefaultValueFactory = _ => "all" };
        var reduce = new Option<string>("--reduce") { Description = $"Reducer per layer: {FeatureReducer.Help}.", DefaultValueFactory = _ => "gap" };
        var batch = new Option<int>("--batch") { Description = "Images per forward pass.", DefaultValueFactory = _ => 32 };
        var threads = new Option<int>("--threads") { Description = "Decoding workers and libtorch threads (0: all cores).", DefaultValueFactory = _ => 0 };
        var seed = new Option<long>("--seed") { Description = "Seed for random projections.", DefaultValueFactory = _ => 0 };
        var output = new Option<string>("--out") { Description = "Feature store to write (HDF5).", Required = true };
        var onBad = new Option<string>("--on-bad-image") { Description = "stop (default) or skip unreadable images (skipped ones are counted and listed).", DefaultValueFactory = _ => "stop" };
        var pcaRef = new Option<string?>("--pca-reference") { Description = "Reference images (folder or manifest) a pca:D reducer is fitted on." };
        var pcaCount = new Option<int>("--pca-reference-count") { Description = "Use only the first N reference images (0: all).", DefaultValueFactory = _ => 0 };
        var float16 = new Option<bool>("--float16") { Description = "Store features as float16 instead of float32." };
        var blockRows = new Option<int>("--block-rows") { Description = "Rows per resumable block (0: chosen from a 16 MB buffer budget).", DefaultValueFactory = _ => 0, Hidden = true };
        var device = CommonOptions.Device();
        var pre = PreprocessingOptions.Create();

        var cmd = new Command("extract",
            "Extract features of every selected layer in one forward pass per batch into an HDF5 feature store.\n" +
            "A killed run continues where it stopped when started again with the same options; a store made\n" +
            "with different preprocessing, reducer, layers or images is refused.\n\n" +
            "Examples:\n" +
            "  layerlens extract resnet18.onnx --images photos/ --reduce gap --out resnet18-gap.h5\n" +
            "  layerlens extract memnet.onnx --images lamem/splits/train_1.txt --preset caffe-bgr --crop 227 --layers op:Relu --out memnet.h5\n" +
            "  layerlens extract vgg16.onnx --images stimuli.csv --reduce pca:1000 --pca-reference imagenet-val/ --out vgg16-pca.h5")
        { model, images, root, layers, reduce, batch, threads, seed, output, onBad, pcaRef, pcaCount, float16, blockRows, device };
        pre.AddTo(cmd);

        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            var modelPath = parse.GetValue(model)!;
            var bad = parse.GetValue(onBad)!.Trim().ToLowerInvariant();
            if (bad is not ("stop" or "skip")) throw new LayerLensException($"--on-bad-image '{bad}': expected stop or skip", ErrorKind.Usage);
            var dataset = ImageDataset.Open(parse.GetValue(images)!, parse.GetValue(root));
            ImageDataset? reference = null;
            if (parse.GetValue(pcaRef) is { } r)
            {
                reference = ImageDataset.Open(r);
                if (parse.GetValue(pcaCount) is > 0 and var n) reference = reference.Take(n);
            }
            var preprocessing = PreprocessingSpec.Resolve(modelPath, pre.Overrides(parse));
            using var graph = ModelLoader.Load(modelPath, ComputeDevice.Parse(parse.GetValue(device)!));
            var options = new ExtractionOptions
            {
                LayerSelector = parse.GetValue(layers)!,
                Reducer = parse.GetValue(reduce)!,
                Seed = parse.GetValue(seed),
                BatchSize = parse.GetValue(batch),
                Threads = parse.GetValue(threads),
                SkipBadImages = bad == "skip",
                Preprocessing = preprocessing,
                PcaReference = reference,
                BlockRows = parse.GetValue(blockRows),
                Float16 = parse.GetValue(float16),
            };
            var outPath = parse.GetValue(output)!;
            var stdout = parse.InvocationConfiguration.Output;
            stdout.WriteLine($"{graph.Name}: {dataset.Count} images from {dataset.Source}, preprocessing {preprocessing.Preset} {preprocessing.ToJson()}");
            var summary = RunWithProgress(p => FeatureExtractor.Run(graph, modelPath, dataset, outPath, options, p), stdout);
            if (summary.AlreadyComplete)
                stdout.WriteLine($"{summary.Output}: already complete ({summary.Extracted} images, {summary.Layers} layers); nothing to do");
            else
            {
                stdout.WriteLine($"wrote {summary.Output}: {summary.Extracted} images x {summary.Layers} layers, reducer {options.Reducer}, " +
                                 $"{summary.Elapsed.TotalSeconds:F1} s" + (summary.BlocksResumed > 0 ? $", resumed {summary.BlocksResumed} of {summary.Blocks} blocks" : ""));
                stdout.WriteLine($"skipped images: {summary.Skipped.Count}");
                foreach (var s in summary.Skipped.Take(20)) stdout.WriteLine($"  {s.Reason}");
                if (summary.Skipped.Count > 20) stdout.WriteLine($"  ... and {summary.Skipped.Count - 20} more");
            }
            return 0;
        }));
        return cmd;
    }

    /// <summary>A Spectre.Console progress bar on a terminal; plain lines at intervals otherwise.</summary>
    static ExtractionSummary RunWithProgress(Func<IProgress<ExtractionProgress>, ExtractionSummary> run, TextWriter stdout)
    {
        bool terminal = !Console.IsOutputRedirected && !Console.IsErrorRedirected && stdout == Console.Out;
        if (!terminal)
        {
            var last = Stopwatch.StartNew();
            string lastStage = "";
            var plain = new SyncProgress(p =>
            {
                if (p.Stage == lastStage && last.Elapsed.TotalSeconds < 10 && p.Done < p.Total) return;
                last.Restart();
                lastStage = p.Stage;
                var eta = p.Eta is { } e ? $", ETA {e:hh\\:mm\\:ss}" : "";
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{p.Stage}: {p.Done}/{p.Total} images, {p.ImagesPerSecond:F1} images/s{eta}"));
            });
            return run(plain);
        }
        ExtractionSummary? result = null;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedlessRateColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("extract");
                var rateColumn = new SyncProgress(p =>
                {
                    task.Description = p.Stage;
                    task.MaxValue = Math.Max(1, p.Total);
                    task.Value = p.Done;
                    TransferSpeedlessRateColumn.Rate = p.ImagesPerSecond;
                });
                result = run(rateColumn);
                task.Value = task.MaxValue;
            });
        return result!;
    }

    /// <summary>Reports on the calling thread (System.Progress would post to the thread pool and reorder lines).</summary>
    sealed class SyncProgress(Action<ExtractionProgress> report) : IProgress<ExtractionProgress>
    {
        public void Report(ExtractionProgress value) => report(value);
    }

    /// <summary>Shows images/s next to the bar.</summary>
    sealed class TransferSpeedlessRateColumn : ProgressColumn
    {
        public static double Rate;

        public override Spectre.Console.Rendering.IRenderable Render(Spectre.Console.Rendering.RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(string.Create(CultureInfo.InvariantCulture, $"{Rate:F1} images/s"));
    }
}

/// <summary>The preprocessing options shared by commands that read images.</summary>
public sealed class PreprocessingOptions
{
    readonly List<(string Key, Option<string?> Option)> _options = new();

    /// <summary>The options; <paramref name="defaultSource"/> says where the preprocessing comes from when none is given.</summary>
    public static PreprocessingOptions Create(string defaultSource = "the zoo entry's for zoo:NAME, else the model's sidecar MODEL.layerlens.json, else imagenet")
    {
        var p = new PreprocessingOptions();
        p.Add("preset", $"Preprocessing preset: {string.Join(", ", PreprocessingSpec.PresetNames)} (default: {defaultSource}); the options below change it.");
        p.Add("resize", "Resize: N (shorter side), HxW (exact) or none.");
        p.Add("interpolation", "bilinear, bicubic or nearest.");
        p.Add("antialias", "true or false: low-pass when downsampling, as torchvision's Resize(antialias=True).");
        p.Add("crop", "Center crop: N, HxW or none.");
        p.Add("range", "Value range: 0-1, 0-255 or -1-1.");
        p.Add("channels", "rgb, bgr or gray.");
        p.Add("mean", "Per-channel mean (comma-separated, in the value range's units) or none.");
        p.Add("std", "Per-channel standard deviation or none.");
        p.Add("mean-image", "A .npy mean image to subtract (Caffe style) or none.");
        p.Add("layout", "nchw or nhwc.");
        p.Add("fit", "With an exact resize HxW: stretch, or letterbox (fit inside and pad the margins).");
        p.Add("pad", "Letterbox margin value on the 0-255 pixel scale (YOLO: 114).");
        p.Add("dtype", "float32, or int32 (whole pixel values 0-255; needs range 0-255).");
        return p;
    }

    void Add(string key, string description) => _options.Add((key, new Option<string?>("--" + key) { Description = description }));

    public void AddTo(Command cmd)
    {
        foreach (var (_, o) in _options) cmd.Options.Add(o);
    }

    public List<KeyValuePair<string, string>> Overrides(ParseResult parse) =>
        _options.Select(o => (o.Key, Value: parse.GetValue(o.Option))).Where(o => o.Value != null)
            .Select(o => new KeyValuePair<string, string>(o.Key, o.Value!)).ToList();
}
