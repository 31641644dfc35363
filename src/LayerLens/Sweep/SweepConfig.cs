using LayerLens.Brain;
using System.Globalization;
using LayerLens.Preprocessing;
using LayerLens.Training;
using LayerLens.Zoo;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace LayerLens.Sweep;

/// <summary>The images every model sees: a folder (recursive) or a manifest (CSV/TSV, LaMem split, MemCat CSV).</summary>
public sealed record SweepImages(string Path, string? Root);

/// <summary>One network of the sweep: where it comes from, which layers are tapped and how each is reduced.</summary>
public sealed record SweepModel
{
    /// <summary>Name used in the tables (unique within the sweep).</summary>
    public required string Name { get; init; }
    /// <summary>A model file (.onnx, TF.js model.json or folder), resolved against the config's folder, or zoo:NAME.</summary>
    public required string Spec { get; init; }
    public string Layers { get; init; } = "all";
    public string Reducer { get; init; } = "gap";
    public required PreprocessingSpec Preprocessing { get; init; }
    public int BatchSize { get; init; } = 32;
    /// <summary>Reference images a pca:D reducer is fitted on (Brain-Score fits its PCA on 1000 ImageNet validation images).</summary>
    public SweepImages? PcaReference { get; init; }
    /// <summary>Use only the first N reference images (0: all).</summary>
    public int PcaReferenceCount { get; init; }
    /// <summary>Line of the entry in the config file.</summary>
    public int Line { get; init; }
}

/// <summary>A target every layer is scored against.</summary>
public abstract record SweepTarget
{
    public required string Name { get; init; }
    public int Line { get; init; }
    /// <summary>The metric the analysis ranks layers by (spearman or accuracy for scores, ceiled for neural data).</summary>
    public abstract string PrimaryMetric { get; }
}

/// <summary>
/// Per-image scores (memorability and the like) read out from each layer with cross-validation: ridge (alpha by
/// efficient leave-one-out on the training fold), PLS, or logistic regression for class labels.
/// </summary>
public sealed record ScoreTarget : SweepTarget
{
    public required string File { get; init; }
    public string IdColumn { get; init; } = "id";
    public string Column { get; init; } = "score";
    /// <summary>ridge, pls or logistic.</summary>
    public string Readout { get; init; } = "ridge";
    /// <summary>Cross-validation spec as the readout command takes it: kfold:K, repeated:K:R, stratified:S:F[:COL], column:NAME, lamem:DIR.</summary>
    public string Cv { get; init; } = "kfold:5";
    public bool DropMissing { get; init; }
    /// <summary>When above 0 (and the test folds partition the samples), a permutation band for the pooled out-of-fold Spearman.</summary>
    public int Permutations { get; init; }
    public override string PrimaryMetric => Readout == "logistic" ? "accuracy" : "spearman";
}

/// <summary>Neural recordings (netCDF/HDF5 assembly or the plain folder layout), scored by Brain-Score's metrics.</summary>
public sealed record NeuralTarget : SweepTarget
{
    public required string Path { get; init; }
    public string? Region { get; init; }
    /// <summary>pls, ridge, rsa, rsa-euclidean, rsa-tau, cka or cka-rbf.</summary>
    public string Metric { get; init; } = "pls";
    public int Splits { get; init; } = 10;
    public override string PrimaryMetric => "ceiled";
}

/// <summary>Which targets the analysis relates, and how its intervals are computed.</summary>
public sealed record SweepAnalysisOptions
{
    /// <summary>The score target whose accuracy is related to brain similarity (default: the first score target).</summary>
    public string? Accuracy { get; init; }
    /// <summary>The neural target (default: the first whose region is IT, else the first neural target).</summary>
    public string? Brain { get; init; }
    public int Bootstrap { get; init; } = 2000;
    public int Permutations { get; init; } = 1000;
    public double Confidence { get; init; } = 0.95;
}

/// <summary>The finetune: section: each listed model is fine-tuned and its penultimate layer scored again.</summary>
public sealed record SweepFineTune
{
    /// <summary>Names of sweep models to fine-tune (default: all).</summary>
    public required IReadOnlyList<string> Models { get; init; }
    public required SweepImages Train { get; init; }
    public required SweepImages Validation { get; init; }
    public required SweepImages Test { get; init; }
    /// <summary>Column of the train/val/test manifests holding the target.</summary>
    public string Target { get; init; } = "score";
    /// <summary>Neural target the fine-tuned penultimate layer is scored on (default: the analysis' brain target).</summary>
    public string? Brain { get; init; }
    public required FineTuneOptions Options { get; init; }
    public int Line { get; init; }
}

/// <summary>
/// A sweep: models × layers × targets from one YAML file. Relative paths are resolved against the file's folder.
/// Every error names the file and line.
/// </summary>
public sealed record SweepConfig
{
    /// <summary>The file the config was read from (or "&lt;string&gt;").</summary>
    public required string Source { get; init; }
    public required string BaseDir { get; init; }
    public int Seed { get; init; }
    public int Threads { get; init; }
    public required SweepImages Images { get; init; }
    public required IReadOnlyList<SweepModel> Models { get; init; }
    public required IReadOnlyList<SweepTarget> Targets { get; init; }
    public SweepAnalysisOptions Analysis { get; init; } = new();
    public SweepFineTune? FineTune { get; init; }

    /// <summary>Reads a sweep file; relative paths in it are relative to its folder.</summary>
    public static SweepConfig Load(string yamlPath)
    {
        if (!System.IO.File.Exists(yamlPath)) throw new LayerLensException($"{yamlPath}: sweep config not found", ErrorKind.BadInput);
        var full = System.IO.Path.GetFullPath(yamlPath);
        return Parse(System.IO.File.ReadAllText(full), System.IO.Path.GetDirectoryName(full)!, yamlPath);
    }

    /// <summary>Parses sweep YAML; relative paths are resolved against <paramref name="baseDir"/>.</summary>
    public static SweepConfig Parse(string yaml, string baseDir) => Parse(yaml, baseDir, "<string>");

    static SweepConfig Parse(string yaml, string baseDir, string source)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            var msg = (e.InnerException?.Message ?? e.Message).Split('\n')[0];
            throw new LayerLensException($"{source}:{e.Start.Line}: not valid YAML ({msg})", ErrorKind.BadInput, e);
        }
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
            throw new LayerLensException($"{source}:1: expected a mapping with images, models and targets", ErrorKind.BadInput);
        var r = new Reader(source, Path.GetFullPath(baseDir));
        return r.Config(root);
    }

    sealed class Reader(string source, string baseDir)
    {
        LayerLensException Error(YamlNode node, string message) =>
            new($"{source}:{node.Start.Line}: {message}", ErrorKind.BadInput);

        static readonly string[] TopKeys = { "seed", "threads", "images", "models", "targets", "analysis", "finetune" };
        static readonly string[] ModelKeys = { "name", "model", "path", "layers", "reducer", "preprocessing", "batch", "pca_reference", "pca_reference_count" };
        static readonly string[] ScoreKeys = { "name", "scores", "id_column", "column", "readout", "cv", "drop_missing", "permutations" };
        static readonly string[] NeuralKeys = { "name", "neural", "region", "metric", "splits" };
        static readonly string[] AnalysisKeys = { "accuracy", "brain", "bootstrap", "permutations", "confidence" };
        static readonly string[] FineTuneKeys =
        {
            "models", "train", "val", "test", "root", "target", "head", "brain", "layer", "train_layers", "epochs", "batch", "lr",
            "backbone_lr_scale", "optimizer", "schedule", "warmup", "weight_decay", "clip", "loss", "dropout", "augment",
            "update_batchnorm", "patience", "seed",
        };

        public SweepConfig Config(YamlMappingNode root)
        {
            CheckKeys(root, TopKeys, "top level");
            int seed = Int(root, "seed", 0);
            var images = ImagesOf(Required(root, "images"), "images");
            var modelsNode = Required(root, "models") as YamlSequenceNode ?? throw Error(Required(root, "models"), "models: expected a list of models");
            if (modelsNode.Children.Count == 0) throw Error(modelsNode, "models: the list is empty");
            var models = modelsNode.Children.Select(Model).ToList();
            Unique(models.Select(m => (m.Name, m.Line)), "model");
            var targetsNode = Required(root, "targets") as YamlSequenceNode ?? throw Error(Required(root, "targets"), "targets: expected a list of targets");
            if (targetsNode.Children.Count == 0) throw Error(targetsNode, "targets: the list is empty");
            var targets = targetsNode.Children.Select(Target).ToList();
            Unique(targets.Select(t => (t.Name, t.Line)), "target");

            var analysis = new SweepAnalysisOptions();
            if (Optional(root, "analysis") is { } an)
            {
                var m = Map(an, "analysis");
                CheckKeys(m, AnalysisKeys, "analysis");
                analysis = new SweepAnalysisOptions
                {
                    Accuracy = Str(m, "accuracy", null), Brain = Str(m, "brain", null),
                    Bootstrap = Int(m, "bootstrap", 2000, min: 100), Permutations = Int(m, "permutations", 1000, min: 0),
                    Confidence = Num(m, "confidence", 0.95),
                };
                if (analysis.Accuracy is { } a && targets.FirstOrDefault(t => t.Name == a) is not ScoreTarget)
                    throw Error(m.Children[new YamlScalarNode("accuracy")], $"analysis.accuracy: '{a}' is not a score target (score targets: {string.Join(", ", targets.OfType<ScoreTarget>().Select(t => t.Name))})");
                if (analysis.Brain is { } b && targets.FirstOrDefault(t => t.Name == b) is not NeuralTarget)
                    throw Error(m.Children[new YamlScalarNode("brain")], $"analysis.brain: '{b}' is not a neural target (neural targets: {string.Join(", ", targets.OfType<NeuralTarget>().Select(t => t.Name))})");
                if (!(analysis.Confidence is > 0 and < 1)) throw Error(m, "analysis.confidence: expected a number between 0 and 1");
            }

            SweepFineTune? ft = null;
            if (Optional(root, "finetune") is { } ftNode) ft = FineTune(Map(ftNode, "finetune"), models, targets, seed);
            return new SweepConfig
            {
                Source = source, BaseDir = baseDir, Seed = seed, Threads = Int(root, "threads", 0, min: 0), Images = images,
                Models = models, Targets = targets, Analysis = analysis, FineTune = ft,
            };
        }

        SweepModel Model(YamlNode node)
        {
            if (node is YamlScalarNode s)
            {
                var spec = ResolveModel(s.Value ?? "", s);
                return new SweepModel { Name = DefaultName(spec), Spec = spec, Preprocessing = DefaultPreprocessing(spec, s), Line = (int)s.Start.Line };
            }
            var m = Map(node, "models entry");
            CheckKeys(m, ModelKeys, "model");
            var raw = Str(m, "model", null) ?? Str(m, "path", null) ?? throw Error(m, "model: give 'model: PATH' or 'model: zoo:NAME'");
            var specNode = Optional(m, "model") ?? Optional(m, "path")!;
            var resolved = ResolveModel(raw, specNode);
            var pre = DefaultPreprocessing(resolved, specNode);
            if (Optional(m, "preprocessing") is { } pn)
            {
                if (pn is YamlScalarNode ps) pre = Wrap(pn, () => PreprocessingSpec.FromPreset(ps.Value ?? ""));
                else
                {
                    var pm = Map(pn, "preprocessing");
                    // The preset first (it starts over), then each option, so an error points at its own line.
                    var entries = pm.Children.OrderBy(kv => Scalar(kv.Key, "preprocessing key") == "preset" ? 0 : 1).ToList();
                    foreach (var (k, v) in entries)
                    {
                        var key = Scalar(k, "preprocessing key");
                        var value = ScalarOrList(v);
                        if ((key is "mean-image" or "mean_image") && value != "none" && !Path.IsPathRooted(value))
                            value = Path.GetFullPath(Path.Combine(baseDir, value));
                        var before = pre;
                        pre = Wrap(k, () => before.With(key, value, "preprocessing"));
                    }
                    var done = pre;
                    pre = Wrap(pn, () => done.Validate("preprocessing"));
                }
            }
            var layers = Str(m, "layers", "all")!;
            Wrap(Optional(m, "layers") ?? m, () => LayerLens.Models.LayerSelector.Parse(layers));
            var reducer = Str(m, "reducer", "gap")!;
            Wrap(Optional(m, "reducer") ?? m, () => Features.FeatureReducer.Parse(reducer));
            return new SweepModel
            {
                Name = Str(m, "name", null) ?? DefaultName(resolved), Spec = resolved, Layers = layers, Reducer = reducer,
                Preprocessing = pre, BatchSize = Int(m, "batch", 32, min: 1), Line = (int)m.Start.Line,
                PcaReference = Optional(m, "pca_reference") is { } pr ? ImagesOf(pr, "pca_reference") : null,
                PcaReferenceCount = Int(m, "pca_reference_count", 0, min: 0),
            };
        }

        string ResolveModel(string spec, YamlNode node)
        {
            spec = spec.Trim();
            if (spec.Length == 0) throw Error(node, "model: empty model path");
            if (spec.StartsWith("zoo:", StringComparison.Ordinal))
            {
                Wrap(node, () => ModelZoo.Default().Get(spec[4..]));
                return spec;
            }
            var full = Path.GetFullPath(Path.Combine(baseDir, spec));
            if (!File.Exists(full) && !Directory.Exists(full)) throw Error(node, $"model file not found: {full}");
            return full;
        }

        static string DefaultName(string spec) =>
            spec.StartsWith("zoo:", StringComparison.Ordinal) ? spec[4..]
            : Path.GetFileName(spec) is "model.json" ? Path.GetFileName(Path.GetDirectoryName(spec)!) : Path.GetFileNameWithoutExtension(spec);

        /// <summary>A zoo model's own recipe as a preprocessing spec; a file's sidecar, else imagenet.</summary>
        PreprocessingSpec DefaultPreprocessing(string spec, YamlNode node) => Wrap(node, () => PreprocessingSpec.Resolve(spec));

        SweepTarget Target(YamlNode node)
        {
            var m = Map(node, "targets entry");
            if (Optional(m, "scores") is not null)
            {
                CheckKeys(m, ScoreKeys, "score target");
                var readout = (Str(m, "readout", "ridge") ?? "ridge").ToLowerInvariant();
                if (readout is not ("ridge" or "pls" or "logistic"))
                    throw Error(Optional(m, "readout")!, $"readout '{readout}': expected ridge, pls or logistic");
                var file = PathOf(Optional(m, "scores")!, "scores", mustExist: true);
                return new ScoreTarget
                {
                    Name = Str(m, "name", null) ?? Path.GetFileNameWithoutExtension(file), File = file,
                    IdColumn = Str(m, "id_column", "id")!, Column = Str(m, "column", "score")!, Readout = readout,
                    Cv = Str(m, "cv", "kfold:5")!, DropMissing = Bool(m, "drop_missing", false),
                    Permutations = Int(m, "permutations", 0, min: 0), Line = (int)m.Start.Line,
                };
            }
            if (Optional(m, "neural") is not null)
            {
                CheckKeys(m, NeuralKeys, "neural target");
                var metric = (Str(m, "metric", "pls") ?? "pls").ToLowerInvariant();
                if (!NeuralMetrics.Contains(metric))
                    throw Error(Optional(m, "metric")!, $"metric '{metric}': expected {string.Join(", ", NeuralMetrics)}");
                var path = PathOf(Optional(m, "neural")!, "neural", mustExist: true);
                var region = Str(m, "region", null);
                return new NeuralTarget
                {
                    Name = Str(m, "name", null) ?? region ?? Path.GetFileNameWithoutExtension(path), Path = path, Region = region,
                    Metric = metric, Splits = Int(m, "splits", 10, min: 2), Line = (int)m.Start.Line,
                };
            }
            throw Error(m, "target: give 'scores: FILE.csv' (per-image scores) or 'neural: PATH' (neural recordings)");
        }

        public static IReadOnlyList<string> NeuralMetrics => BrainMetrics.Names;

        SweepFineTune FineTune(YamlMappingNode m, IReadOnlyList<SweepModel> models, IReadOnlyList<SweepTarget> targets, int seed)
        {
            CheckKeys(m, FineTuneKeys, "finetune");
            var names = models.Select(x => x.Name).ToList();
            if (Optional(m, "models") is { } mn)
            {
                var seq = mn as YamlSequenceNode ?? throw Error(mn, "finetune.models: expected a list of model names");
                names = seq.Children.Select(c => Scalar(c, "model name")).ToList();
                foreach (var (c, n) in seq.Children.Zip(names))
                    if (!models.Any(x => x.Name == n)) throw Error(c, $"finetune.models: no model named '{n}' (models: {string.Join(", ", models.Select(x => x.Name))})");
            }
            var brain = Str(m, "brain", null);
            if (brain != null && targets.FirstOrDefault(t => t.Name == brain) is not NeuralTarget)
                throw Error(Optional(m, "brain")!, $"finetune.brain: '{brain}' is not a neural target");
            var rootDir = Optional(m, "root") is { } rn ? PathOf(rn, "root", mustExist: true) : null;
            SweepImages Split(string key) => new(PathOf(Required(m, key), key, mustExist: true), rootDir);
            bool classes = (Str(m, "head", "regression") ?? "regression") switch
            {
                "regression" => false,
                "classes" => true,
                var h => throw Error(Optional(m, "head")!, $"finetune.head '{h}': expected regression or classes"),
            };
            var options = Wrap(m, () => new FineTuneOptions
            {
                FeatureLayer = Str(m, "layer", null),
                Head = classes ? HeadKind.Classes : HeadKind.Regression,
                Classes = classes ? 2 : 0, // replaced by the number of training classes when the data is read
                TrainLayers = TrainLayers.Parse(Str(m, "train_layers", "head")!),
                Epochs = Int(m, "epochs", 10, min: 1),
                BatchSize = Int(m, "batch", 32, min: 1),
                LearningRate = Num(m, "lr", 1e-3),
                BackboneLearningRateScale = Num(m, "backbone_lr_scale", 0.1),
                Optimizer = Enum<OptimizerKind>(m, "optimizer", OptimizerKind.AdamW),
                Schedule = Enum<ScheduleKind>(m, "schedule", ScheduleKind.Cosine),
                WarmupEpochs = Int(m, "warmup", 0, min: 0),
                WeightDecay = Num(m, "weight_decay", 1e-4),
                ClipNorm = Num(m, "clip", 5) is > 0 and var c ? c : null,
                Loss = Optional(m, "loss") != null ? Enum<LossKind>(m, "loss", LossKind.Mse) : classes ? LossKind.CrossEntropy : LossKind.Mse,
                Dropout = Num(m, "dropout", 0),
                Augment = Bool(m, "augment", false) ? Augmentation.Standard : Augmentation.None,
                UpdateBatchNorm = Bool(m, "update_batchnorm", false),
                Patience = Int(m, "patience", 5, min: 0),
                Seed = Int(m, "seed", seed),
            });
            return new SweepFineTune
            {
                Models = names, Train = Split("train"), Validation = Split("val"), Test = Split("test"), Target = Str(m, "target", "score")!,
                Brain = brain, Options = options, Line = (int)m.Start.Line,
            };
        }

        SweepImages ImagesOf(YamlNode node, string what)
        {
            if (node is YamlScalarNode) return new SweepImages(PathOf(node, what, mustExist: true), null);
            var m = Map(node, what);
            CheckKeys(m, new[] { "path", "root" }, what);
            return new SweepImages(PathOf(Required(m, "path"), what, mustExist: true), Optional(m, "root") is { } r ? PathOf(r, "root", mustExist: true) : null);
        }

        string PathOf(YamlNode node, string what, bool mustExist)
        {
            var v = Scalar(node, what);
            var full = Path.GetFullPath(Path.Combine(baseDir, v));
            if (mustExist && !File.Exists(full) && !Directory.Exists(full)) throw Error(node, $"{what}: not found: {full}");
            return full;
        }

        // ---- small readers ----

        YamlMappingNode Map(YamlNode node, string what) => node as YamlMappingNode ?? throw Error(node, $"{what}: expected a mapping (key: value lines)");

        string Scalar(YamlNode node, string what) =>
            node is YamlScalarNode s && s.Value is { } v ? v : throw Error(node, $"{what}: expected a single value");

        string ScalarOrList(YamlNode node) => node switch
        {
            YamlScalarNode s => s.Value ?? "none",
            YamlSequenceNode q => string.Join(",", q.Children.Select(c => Scalar(c, "list item"))),
            _ => throw Error(node, "expected a value or a list of values"),
        };

        static YamlNode? Optional(YamlMappingNode m, string key) =>
            m.Children.TryGetValue(new YamlScalarNode(key), out var v) ? v : null;

        YamlNode Required(YamlMappingNode m, string key) => Optional(m, key) ?? throw Error(m, $"missing '{key}'");

        string? Str(YamlMappingNode m, string key, string? fallback) => Optional(m, key) is { } n ? Scalar(n, key) : fallback;

        int Int(YamlMappingNode m, string key, int fallback, int min = int.MinValue)
        {
            if (Optional(m, key) is not { } n) return fallback;
            var s = Scalar(n, key);
            if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)) throw Error(n, $"{key}: '{s}' is not a whole number");
            if (v < min) throw Error(n, $"{key}: {v} is below the minimum {min}");
            return v;
        }

        double Num(YamlMappingNode m, string key, double fallback)
        {
            if (Optional(m, key) is not { } n) return fallback;
            var s = Scalar(n, key);
            if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v)) throw Error(n, $"{key}: '{s}' is not a number");
            return v;
        }

        bool Bool(YamlMappingNode m, string key, bool fallback)
        {
            if (Optional(m, key) is not { } n) return fallback;
            return Scalar(n, key).ToLowerInvariant() switch
            {
                "true" or "yes" or "on" => true,
                "false" or "no" or "off" => false,
                var s => throw Error(n, $"{key}: '{s}' is not true or false"),
            };
        }

        T Enum<T>(YamlMappingNode m, string key, T fallback) where T : struct, System.Enum
        {
            if (Optional(m, key) is not { } n) return fallback;
            var s = Scalar(n, key);
            return System.Enum.TryParse<T>(s.Replace("-", "").Replace("_", ""), ignoreCase: true, out var v) ? v
                : throw Error(n, $"{key}: '{s}' is not one of {string.Join(", ", System.Enum.GetNames<T>().Select(x => x.ToLowerInvariant()))}");
        }

        void CheckKeys(YamlMappingNode m, string[] known, string what)
        {
            foreach (var k in m.Children.Keys)
            {
                var name = Scalar(k, $"{what} key");
                if (!known.Contains(name)) throw Error(k, $"unknown {what} key '{name}' (known: {string.Join(", ", known)})");
            }
        }

        void Unique(IEnumerable<(string Name, int Line)> items, string what)
        {
            var seen = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var (n, line) in items)
            {
                if (n.Length == 0 || n.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || n.Contains("__", StringComparison.Ordinal))
                    throw new LayerLensException($"{source}:{line}: {what} name '{n}' must be non-empty, without '/' or '__'", ErrorKind.BadInput);
                if (seen.TryGetValue(n, out var first)) throw new LayerLensException($"{source}:{line}: {what} name '{n}' is used twice (first at line {first})", ErrorKind.BadInput);
                seen[n] = line;
            }
        }

        /// <summary>Runs a check that throws LayerLensException, prefixing its message with file and line.</summary>
        T Wrap<T>(YamlNode node, Func<T> f)
        {
            try { return f(); }
            catch (LayerLensException e) { throw new LayerLensException($"{source}:{node.Start.Line}: {e.Message}", ErrorKind.BadInput, e); }
        }
    }
}
