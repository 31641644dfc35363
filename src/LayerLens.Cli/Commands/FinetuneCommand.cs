using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LayerLens.IO;
using LayerLens.Datasets;
using LayerLens.Models;
using LayerLens.Models.Onnx;
using LayerLens.Preprocessing;
using LayerLens.Reports;
using LayerLens.Training;

namespace LayerLens.Cli.Commands;

/// <summary>`layerlens finetune` and `layerlens evaluate`.</summary>
public static class FinetuneCommand
{
    public static Command Build()
    {
        var model = new Argument<string>("model") { Description = "Model to fine-tune: .onnx, a TensorFlow.js graph model (model.json) or zoo:NAME." };
        var train = new Option<string>("--train") { Description = "Training images: manifest (CSV/TSV), image folder, LaMem split or MemCat CSV.", Required = true };
        var val = new Option<string>("--val") { Description = "Validation images, same forms as --train.", Required = true };
        var root = new Option<string?>("--root") { Description = "Folder the manifests' image paths are relative to." };
        var target = new Option<string>("--target") { Description = "Column holding the target (a score, or a class label with --head classes).", DefaultValueFactory = _ => "score" };
        var head = new Option<string>("--head") { Description = "regression or classes.", DefaultValueFactory = _ => "regression" };
        var layer = new Option<string?>("--layer") { Description = "Layer feeding the new head (default: the penultimate layer)." };
        var trainLayers = new Option<string>("--train-layers") { Description = "What is trained: head, last:K (the K deepest weighted layers too) or all.", DefaultValueFactory = _ => "head" };
        var epochs = new Option<int>("--epochs") { Description = "Epochs.", DefaultValueFactory = _ => 10 };
        var batch = new Option<int>("--batch") { Description = "Images per step.", DefaultValueFactory = _ => 32 };
        var lr = new Option<double>("--lr") { Description = "Learning rate of the head.", DefaultValueFactory = _ => 1e-3 };
        var backboneLr = new Option<double>("--backbone-lr-scale") { Description = "Learning rate of the network's own weights, relative to --lr.", DefaultValueFactory = _ => 0.1 };
        var optimizer = new Option<string>("--optimizer") { Description = "adamw or sgd (momentum 0.9).", DefaultValueFactory = _ => "adamw" };
        var schedule = new Option<string>("--schedule") { Description = "cosine, step or constant.", DefaultValueFactory = _ => "cosine" };
        var warmup = new Option<int>("--warmup") { Description = "Warm-up epochs.", DefaultValueFactory = _ => 0 };
        var wd = new Option<double>("--weight-decay") { Description = "Weight decay.", DefaultValueFactory = _ => 1e-4 };
        var clip = new Option<double>("--clip") { Description = "Gradient-norm clip (0: none).", DefaultValueFactory = _ => 5 };
        var loss = new Option<string?>("--loss") { Description = "mse, huber or rank (regression); cross-entropy (classes)." };
        var smoothing = new Option<double>("--label-smoothing") { Description = "Label smoothing for cross-entropy.", DefaultValueFactory = _ => 0 };
        var dropout = new Option<double>("--dropout") { Description = "Dropout before the head.", DefaultValueFactory = _ => 0 };
        var augment = new Option<bool>("--augment") { Description = "Random resized crop, horizontal flip and colour jitter." };
        var bn = new Option<bool>("--update-batchnorm") { Description = "Update batch-norm statistics while training (default: frozen)." };
        var patience = new Option<int>("--patience") { Description = "Stop after this many epochs without a better validation score (0: never).", DefaultValueFactory = _ => 5 };
        var seed = new Option<long>("--seed") { Description = "Seed for the head, shuffling, augmentation and dropout.", DefaultValueFactory = _ => 0 };
        var outDir = new Option<string>("--out", "-o") { Description = "Folder for model.onnx (with its preprocessing sidecar model.layerlens.json), metrics.csv, curves.png/.svg and checkpoints.", Required = true };
        var pre = PreprocessingOptions.Create();
        var cmd = new Command("finetune",
            "Fine-tune a model for a target: a new head on a chosen layer, trained with the network frozen, partly or wholly.\n" +
            "A killed run resumes from its last checkpoint when started again with the same options and --out.\n\n" +
            "Examples:\n" +
            "  layerlens finetune resnet18.onnx --train lamem/splits/train_1.txt --val lamem/splits/val_1.txt --target score --train-layers last:3 --epochs 20 --out ft\n" +
            "  layerlens finetune model.onnx --train train.csv --val val.csv --target label --head classes --train-layers all --out ft\n" +
            "  layerlens finetune zoo:emotion --train faces.csv --val faces-val.csv --target score --train-layers all --out ft-emotion")
        {
            model, train, val, root, target, head, layer, trainLayers, epochs, batch, lr, backboneLr, optimizer, schedule, warmup, wd, clip,
            loss, smoothing, dropout, augment, bn, patience, seed, outDir,
        };
        pre.AddTo(cmd);
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var modelPath = parse.GetValue(model)!;
            bool classes = parse.GetValue(head) switch
            {
                "regression" => false,
                "classes" => true,
                var h => throw new LayerLensException($"--head '{h}': expected regression or classes", ErrorKind.Usage),
            };
            var spec = PreprocessingSpec.Resolve(modelPath, pre.Overrides(parse));
            using var graph = ModelLoader.Load(modelPath);
            using var trainData = new DatasetTrainingData(ImageDataset.Open(parse.GetValue(train)!, parse.GetValue(root)), parse.GetValue(target)!, spec, classes);
            using var valData = new DatasetTrainingData(ImageDataset.Open(parse.GetValue(val)!, parse.GetValue(root)), parse.GetValue(target)!, spec, classes, trainData.ClassNames);
            var options = new FineTuneOptions
            {
                FeatureLayer = parse.GetValue(layer),
                Head = classes ? HeadKind.Classes : HeadKind.Regression,
                Classes = trainData.ClassNames.Count,
                TrainLayers = TrainLayers.Parse(parse.GetValue(trainLayers)!),
                Epochs = parse.GetValue(epochs),
                BatchSize = parse.GetValue(batch),
                LearningRate = parse.GetValue(lr),
                BackboneLearningRateScale = parse.GetValue(backboneLr),
                Optimizer = Parse<OptimizerKind>(parse.GetValue(optimizer)!, "--optimizer"),
                Schedule = Parse<ScheduleKind>(parse.GetValue(schedule)!, "--schedule"),
                WarmupEpochs = parse.GetValue(warmup),
                WeightDecay = parse.GetValue(wd),
                ClipNorm = parse.GetValue(clip) > 0 ? parse.GetValue(clip) : null,
                Loss = parse.GetValue(loss) is { } l ? Parse<LossKind>(l.Replace("-", ""), "--loss") : classes ? LossKind.CrossEntropy : LossKind.Mse,
                LabelSmoothing = parse.GetValue(smoothing),
                Dropout = parse.GetValue(dropout),
                Augment = parse.GetValue(augment) ? Augmentation.Standard : Augmentation.None,
                UpdateBatchNorm = parse.GetValue(bn),
                Patience = parse.GetValue(patience),
                Seed = parse.GetValue(seed),
            };
            var dir = parse.GetValue(outDir)!;
            Directory.CreateDirectory(dir);
            using var tuner = new FineTuner(graph, options, DatasetTrainingData.ValueStage(spec));
            stdout.WriteLine($"fine-tuning {graph.Name} from layer {tuner.FeatureLayer} ({tuner.FeatureSize} features), training {options.TrainLayers}: " +
                             $"{trainData.Count} training and {valData.Count} validation images, seed {options.Seed}");
            var started = DateTime.UtcNow;
            var progress = new LineProgress(line =>
            {
                var m = System.Text.RegularExpressions.Regex.Match(line, @"^epoch (\d+)/(\d+)");
                if (m.Success)
                {
                    double done = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), total = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
                    var elapsed = DateTime.UtcNow - started;
                    line += $"  ETA {TimeSpan.FromSeconds(elapsed.TotalSeconds / done * (total - done)):hh\\:mm\\:ss}";
                }
                stdout.WriteLine(line);
            });
            var ckpt = Path.Combine(dir, "checkpoints");
            var history = tuner.Fit(trainData, valData, ckpt, progress);
            tuner.LoadBest(ckpt);
            var (w, b) = tuner.Head();
            var modelOut = Path.Combine(dir, "model.onnx");
            OnnxExporter.Save(graph, modelOut, tuner.FeatureLayer, w, b, tuner.FeatureRank, probabilities: classes);
            // The saved model carries its preprocessing, so every other command feeds it as it was trained.
            AtomicFile.WriteAllText(Path.Combine(dir, "model.layerlens.json"),
                new JsonObject { ["preprocessing"] = JsonNode.Parse(spec.ToJson()) }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            WriteMetrics(Path.Combine(dir, "metrics.csv"), history);
            var epochX = history.Select(h => (double)h.Epoch).ToList();
            Charts.Lines($"Fine-tuning {graph.Name}", "epoch", "training loss",
                new[] { new ChartSeries("training loss", epochX, history.Select(h => h.TrainLoss).ToList()) },
                $"validation {tuner.MetricName}",
                new[] { new ChartSeries($"validation {tuner.MetricName}", epochX, history.Select(h => h.ValidationScore).ToList()) })
                .Save(Path.Combine(dir, "curves"));
            var run = new Dictionary<string, object?>
            {
                ["model"] = Path.GetFullPath(modelPath), ["feature_layer"] = tuner.FeatureLayer, ["options"] = options,
                ["preprocessing"] = JsonDocument.Parse(spec.ToJson()).RootElement, ["classes"] = trainData.ClassNames,
                ["best_validation"] = history.Count == 0 ? null : history.Max(h => h.ValidationScore), ["metric"] = tuner.MetricName,
                ["output"] = OnnxExporter.HeadOutput,
            };
            AtomicFile.WriteAllText(Path.Combine(dir, "run.json"), JsonSerializer.Serialize(run, new JsonSerializerOptions { WriteIndented = true }));
            var best = history.OrderByDescending(h => h.ValidationScore).FirstOrDefault();
            stdout.WriteLine($"best validation {tuner.MetricName} {best?.ValidationScore:0.0000} at epoch {best?.Epoch}; wrote {modelOut}, model.layerlens.json, metrics.csv, curves.png/.svg, run.json");
            return 0;
        }));
        return cmd;
    }

    public static Command BuildEvaluate()
    {
        var model = new Argument<string>("model") { Description = "A model written by `layerlens finetune` (or any model whose first output is the prediction)." };
        var data = new Option<string>("--data") { Description = "Images with targets: manifest, folder, LaMem split or MemCat CSV.", Required = true };
        var root = new Option<string?>("--root") { Description = "Folder the manifest's image paths are relative to." };
        var target = new Option<string>("--target") { Description = "Target column.", DefaultValueFactory = _ => "score" };
        var head = new Option<string>("--head") { Description = "regression or classes (classes read their names from the run.json beside the model).", DefaultValueFactory = _ => "regression" };
        var batch = new Option<int>("--batch") { Description = "Images per forward pass.", DefaultValueFactory = _ => 32 };
        var pre = PreprocessingOptions.Create();
        var cmd = new Command("evaluate",
            "Score a model's predictions against a target: Spearman, Pearson, Kendall, R² and MSE for scores; accuracy for classes.\n\n" +
            "Examples:\n" +
            "  layerlens evaluate ft/model.onnx --data lamem/splits/test_1.txt --target score\n" +
            "  layerlens evaluate ft/model.onnx --data test.csv --target label --head classes")
        { model, data, root, target, head, batch };
        pre.AddTo(cmd);
        cmd.SetAction(parse => CommonOptions.Guard(parse, () =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var modelPath = parse.GetValue(model)!;
            bool classes = parse.GetValue(head) == "classes";
            var spec = PreprocessingSpec.Resolve(modelPath, pre.Overrides(parse));
            IReadOnlyList<string>? names = null;
            var runJson = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelPath))!, "run.json");
            if (classes && File.Exists(runJson))
                names = JsonDocument.Parse(File.ReadAllText(runJson)).RootElement.GetProperty("classes").EnumerateArray().Select(e => e.GetString()!).ToList();
            using var graph = ModelLoader.Load(modelPath);
            using var set = new DatasetTrainingData(ImageDataset.Open(parse.GetValue(data)!, parse.GetValue(root)), parse.GetValue(target)!, spec, classes, names, cacheImages: false);
            var values = DatasetTrainingData.ValueStage(spec);
            var preds = new List<double>();
            var truth = new List<double>();
            for (int start = 0; start < set.Count; start += parse.GetValue(batch))
            {
                using var scope = TorchSharp.torch.NewDisposeScope();
                var idx = Enumerable.Range(start, Math.Min(parse.GetValue(batch), set.Count - start)).ToList();
                var (images, t) = set.Batch(idx);
                using var r = graph.Run(values(images));
                var output = r.Outputs[graph.OutputNames[0]];
                if (classes) preds.AddRange(output.argmax(1).data<long>().ToArray().Select(v => (double)v));
                else preds.AddRange(output.flatten().to_type(TorchSharp.torch.ScalarType.Float64).data<double>().ToArray());
                truth.AddRange(t.data<double>().ToArray());
            }
            var p = preds.ToArray();
            var y = truth.ToArray();
            var inv = CultureInfo.InvariantCulture;
            stdout.WriteLine($"{set.Count} images, target '{parse.GetValue(target)}'");
            if (classes)
                stdout.WriteLine($"accuracy {Stats.Metrics.Accuracy(y.Select(v => (int)v).ToArray(), p.Select(v => (int)v).ToArray()).ToString("0.0000", inv)}");
            else
            {
                stdout.WriteLine($"spearman {Stats.Correlation.Spearman(p, y).ToString("0.0000", inv)}");
                stdout.WriteLine($"pearson  {Stats.Correlation.Pearson(p, y).ToString("0.0000", inv)}");
                stdout.WriteLine($"kendall  {Stats.Correlation.KendallTauB(p, y).ToString("0.0000", inv)}");
                stdout.WriteLine($"r2       {Stats.Metrics.R2(y, p).ToString("0.0000", inv)}");
                stdout.WriteLine($"mse      {Stats.Metrics.Mse(y, p).ToString("0.000000", inv)}");
            }
            return 0;
        }));
        return cmd;
    }

    static T Parse<T>(string text, string option) where T : struct, Enum =>
        Enum.TryParse<T>(text, ignoreCase: true, out var v) ? v
            : throw new LayerLensException($"{option} '{text}': expected one of {string.Join(", ", Enum.GetNames<T>().Select(n => n.ToLowerInvariant()))}", ErrorKind.Usage);

    static void WriteMetrics(string path, IReadOnlyList<EpochMetrics> history)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder("epoch,learning_rate,train_loss,metric,validation,seconds,best\n");
        foreach (var h in history)
            sb.Append(inv, $"{h.Epoch},{h.LearningRate:R},{h.TrainLoss:R},{h.Metric},{h.ValidationScore:R},{h.Seconds:0.###},{(h.Best ? 1 : 0)}\n");
        AtomicFile.WriteAllText(path, sb.ToString());
    }

    sealed class LineProgress(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }
}
