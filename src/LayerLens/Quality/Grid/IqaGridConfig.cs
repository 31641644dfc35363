using System.Globalization;
using LayerLens.Quality.Distances;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace LayerLens.Quality.Grid;

/// <summary>
/// One model of an IQA grid: a model file (.onnx, TF.js model.json) or zoo:NAME, the layers to score
/// (a layer selector: all, names, globs, op:TYPE, depth:LO-HI) and optional preprocessing overrides (the keys of
/// <c>--pre</c>). Without overrides a file model uses its sidecar, else imagenet; a zoo model uses its entry's recipe.
/// </summary>
public sealed record IqaGridModel(string Model, string Layers = "op:Relu")
{
    /// <summary>Label in tables and charts; default the file name without extension, or the zoo name.</summary>
    public string? Name { get; init; }
    /// <summary>Preprocessing options (preset, resize, range, mean, std, layout, ...) applied on top of the default.</summary>
    public IReadOnlyDictionary<string, string>? Preprocessing { get; init; }

    public string Label => Name ?? DefaultLabel(Model);

    internal static string DefaultLabel(string model)
    {
        if (model.StartsWith("zoo:", StringComparison.Ordinal)) return model[4..];
        var trimmed = model.TrimEnd('/', '\\');
        var file = Path.GetFileName(trimmed);
        if (file.Equals("model.json", StringComparison.OrdinalIgnoreCase))
            return Path.GetFileName(Path.GetDirectoryName(trimmed) ?? file) is { Length: > 0 } d ? d : "model";
        return Path.GetFileNameWithoutExtension(file);
    }
}

/// <summary>
/// One dataset of an IQA grid: <c>tid2013:DIR</c>, <c>kadid:DIR</c>, <c>csiq:DIR</c>, <c>live:DIR</c>, <c>csv:FILE</c>,
/// or <c>distort:FOLDER</c> — a set generated from an image folder by the built-in distortion generator, with
/// images scaled down to <see cref="MaxSide"/> and the chosen <see cref="Levels"/> (1–5) of every distortion.
/// </summary>
public sealed record IqaGridDataset(string Spec)
{
    /// <summary>Label in tables and charts; default the kind (tid2013, ...), the CSV's name, or FOLDER-distorted.</summary>
    public string? Name { get; init; }
    /// <summary>distort: only — longest side of the generated images (default: as they are).</summary>
    public int? MaxSide { get; init; }
    /// <summary>distort: only — the levels to generate (default 1–5).</summary>
    public IReadOnlyList<int>? Levels { get; init; }
    /// <summary>distort: only — seed of the random distortions (default: the grid's seed).</summary>
    public int? Seed { get; init; }

    /// <summary>A generated distortion set made from <paramref name="imageFolder"/>.</summary>
    public static IqaGridDataset Distorted(string imageFolder, int? maxSide = null, IReadOnlyList<int>? levels = null, string? name = null) =>
        new("distort:" + imageFolder) { MaxSide = maxSide, Levels = levels, Name = name };

    public string Kind => Spec.IndexOf(':') is > 0 and var c ? Spec[..c].ToLowerInvariant() : "";
    public string PathPart => Spec.IndexOf(':') is > 0 and var c ? Spec[(c + 1)..] : Spec;
    public bool IsGenerated => Kind == "distort";

    public string Label => Name ?? Kind switch
    {
        "distort" => Path.GetFileName(PathPart.TrimEnd('/', '\\')) + "-distorted",
        "csv" => Path.GetFileNameWithoutExtension(PathPart),
        "tid" => "tid2013",
        "kadid10k" or "kadid-10k" => "kadid",
        var k => k,
    };
}

/// <summary>
/// LPIPS as a baseline: its network supplied as a model file and its learned channel weights as a JSON file
/// (<c>{"layers": {"LAYER": [w, ...], ...}}</c> or the bare map; the layers are the file's keys, in order).
/// Preprocessing defaults to the lpips preset (the full image in −1..1).
/// </summary>
public sealed record IqaLpipsBaseline(string Model, string Weights)
{
    public string Name { get; init; } = "LPIPS";
    public IReadOnlyDictionary<string, string>? Preprocessing { get; init; }
}

/// <summary>
/// A grid of IQA runs: every model × readout × dataset, plus PSNR, SSIM, MS-SSIM (and LPIPS when given) on every
/// dataset. Build it in code with the constructor or read it from YAML with <see cref="Load"/> / <see cref="Parse"/>.
/// </summary>
public sealed record IqaGridConfig(IReadOnlyList<IqaGridModel> Models, IReadOnlyList<string> Readouts, IReadOnlyList<IqaGridDataset> Datasets)
{
    public string Title { get; init; } = "Deep image-quality metrics against human ratings";
    /// <summary>Score PSNR, SSIM and MS-SSIM on every dataset.</summary>
    public bool Baselines { get; init; } = true;
    public IqaLpipsBaseline? Lpips { get; init; }
    /// <summary>Seed of bootstrap resampling and generated distortions (recorded in the report).</summary>
    public int Seed { get; init; }
    /// <summary>Bootstrap resamples for SROCC/PLCC intervals (0 = none).</summary>
    public int Bootstrap { get; init; } = 1000;
    public int BatchSize { get; init; } = 16;
    /// <summary>cpu, cuda or cuda:N.</summary>
    public string Device { get; init; } = "cpu";
    /// <summary>The YAML file the config came from, if any (for messages and the report).</summary>
    public string? SourcePath { get; init; }

    /// <summary>Reads a grid from a YAML file; relative paths are relative to the file's folder.</summary>
    public static IqaGridConfig Load(string yamlPath)
    {
        if (!File.Exists(yamlPath)) throw new LayerLensException($"{yamlPath}: config file not found", ErrorKind.BadInput);
        var full = Path.GetFullPath(yamlPath);
        return ParseText(File.ReadAllText(full), Path.GetDirectoryName(full)!, yamlPath);
    }

    /// <summary>Reads a grid from YAML text; relative paths are resolved against <paramref name="baseDir"/>.</summary>
    public static IqaGridConfig Parse(string yaml, string baseDir) => ParseText(yaml, baseDir, null);

    static IqaGridConfig ParseText(string yaml, string baseDir, string? file)
    {
        var y = new YamlReader(file ?? "config");
        var root = y.Root(yaml);
        y.Keys(root, "title", "models", "readouts", "datasets", "baselines", "lpips", "seed", "bootstrap", "batch_size", "device");
        var models = y.Seq(y.Required(root, "models")).Select(n =>
        {
            if (n is YamlScalarNode s) return new IqaGridModel(ResolveModel(y.Text(s), baseDir));
            var m = y.Map(n);
            y.Keys(m, "model", "layers", "name", "preprocessing");
            return new IqaGridModel(ResolveModel(y.Text(y.Required(m, "model")), baseDir), y.OptText(m, "layers") ?? "op:Relu")
            {
                Name = y.OptText(m, "name"),
                Preprocessing = y.OptPre(m, baseDir),
            };
        }).ToList();
        var readoutNode = y.Opt(root, "readouts");
        var readouts = readoutNode == null ? new List<string> { "l2" }
            : readoutNode is YamlScalarNode rs ? y.Text(rs).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList()
            : y.Seq(readoutNode).Select(n => y.Text(n)).ToList();
        foreach (var r in readouts)
            if (!FeatureReadout.Names.Contains(r.ToLowerInvariant()))
                throw y.Error(readoutNode!, $"unknown readout '{r}' (expected {string.Join(", ", FeatureReadout.Names)})");
        var datasets = y.Seq(y.Required(root, "datasets")).Select(n =>
        {
            if (n is YamlScalarNode s) return new IqaGridDataset(ResolveDataset(y.Text(s), baseDir, y, s));
            var m = y.Map(n);
            y.Keys(m, "dataset", "name", "max_side", "levels", "seed", "tid2013", "kadid", "csiq", "live", "csv", "distort");
            // Either "dataset: KIND:PATH" or "KIND: PATH".
            string spec;
            var kindKey = new[] { "tid2013", "kadid", "csiq", "live", "csv", "distort" }.FirstOrDefault(k => y.Opt(m, k) != null);
            if (y.Opt(m, "dataset") is { } d) spec = y.Text(d);
            else if (kindKey != null) spec = kindKey + ":" + y.Text(y.Opt(m, kindKey)!);
            else throw y.Error(m, "a dataset entry needs 'dataset: KIND:PATH' or one of tid2013, kadid, csiq, live, csv, distort");
            var ds = new IqaGridDataset(ResolveDataset(spec, baseDir, y, m))
            {
                Name = y.OptText(m, "name"),
                MaxSide = y.OptInt(m, "max_side"),
                Seed = y.OptInt(m, "seed"),
                Levels = y.Opt(m, "levels") is { } lv ? y.Seq(lv).Select(x => y.Int(x)).ToList() : null,
            };
            if (!ds.IsGenerated && (ds.MaxSide != null || ds.Levels != null))
                throw y.Error(m, "max_side and levels apply only to a generated set (distort: FOLDER)");
            if (ds.Levels is { } ls && ls.Any(l => l < 1 || l > Distortions.Distortion.Levels))
                throw y.Error(y.Opt(m, "levels")!, $"levels must be between 1 and {Distortions.Distortion.Levels}");
            if (ds.MaxSide is <= 0) throw y.Error(y.Opt(m, "max_side")!, "max_side must be positive");
            return ds;
        }).ToList();
        IqaLpipsBaseline? lpips = null;
        if (y.Opt(root, "lpips") is { } ln)
        {
            var m = y.Map(ln);
            y.Keys(m, "model", "weights", "name", "preprocessing");
            lpips = new IqaLpipsBaseline(ResolveModel(y.Text(y.Required(m, "model")), baseDir), Rooted(y.Text(y.Required(m, "weights")), baseDir))
            {
                Name = y.OptText(m, "name") ?? "LPIPS",
                Preprocessing = y.OptPre(m, baseDir),
            };
        }
        var config = new IqaGridConfig(models, readouts, datasets)
        {
            Title = y.OptText(root, "title") ?? "Deep image-quality metrics against human ratings",
            Baselines = y.OptBool(root, "baselines") ?? true,
            Lpips = lpips,
            Seed = y.OptInt(root, "seed") ?? 0,
            Bootstrap = y.OptInt(root, "bootstrap") ?? 1000,
            BatchSize = y.OptInt(root, "batch_size") ?? 16,
            Device = y.OptText(root, "device") ?? "cpu",
            SourcePath = file,
        };
        if (config.Bootstrap < 0) throw y.Error(y.Opt(root, "bootstrap")!, "bootstrap must be 0 or more");
        if (config.BatchSize < 1) throw y.Error(y.Opt(root, "batch_size")!, "batch_size must be at least 1");
        try
        {
            config.Validate();
        }
        catch (LayerLensException e)
        {
            throw new LayerLensException($"{file ?? "config"}: {e.Message}", ErrorKind.BadInput, e);
        }
        return config;
    }

    /// <summary>Checks names and settings that do not need files; throws a usage error naming the problem.</summary>
    public IqaGridConfig Validate()
    {
        if (Models.Count == 0 && !Baselines && Lpips == null)
            throw new LayerLensException("the grid has no model and no baseline to score", ErrorKind.Usage);
        if (Models.Count > 0 && Readouts.Count == 0) throw new LayerLensException("the grid has models but no readout", ErrorKind.Usage);
        if (Datasets.Count == 0) throw new LayerLensException("the grid has no dataset", ErrorKind.Usage);
        foreach (var r in Readouts) FeatureReadout.Parse(r);
        Dup(Models.Select(m => m.Label).Concat(Lpips == null ? Array.Empty<string>() : new[] { Lpips.Name }), "model");
        Dup(Datasets.Select(d => d.Label), "dataset");
        Dup(Readouts.Select(r => r.Trim().ToLowerInvariant()), "readout");
        foreach (var d in Datasets)
            if (d.Kind is not ("tid2013" or "tid" or "kadid" or "kadid10k" or "kadid-10k" or "csiq" or "live" or "csv" or "distort"))
                throw new LayerLensException($"dataset '{d.Spec}' must be KIND:PATH with KIND one of tid2013, kadid, csiq, live, csv, distort", ErrorKind.Usage);
        return this;
    }

    static void Dup(IEnumerable<string> names, string what)
    {
        var d = names.GroupBy(n => n, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (d != null) throw new LayerLensException($"two {what}s are named '{d.Key}'; give one a different name", ErrorKind.Usage);
    }

    static string Rooted(string path, string baseDir) => Path.IsPathRooted(path) ? path : Path.GetFullPath(Path.Combine(baseDir, path));

    static string ResolveModel(string model, string baseDir) =>
        model.StartsWith("zoo:", StringComparison.Ordinal) ? model : Rooted(model, baseDir);

    static string ResolveDataset(string spec, string baseDir, YamlReader y, YamlNode at)
    {
        int c = spec.IndexOf(':');
        if (c <= 0) throw y.Error(at, $"dataset '{spec}' must be KIND:PATH (tid2013, kadid, csiq, live, csv, distort)");
        return spec[..c] + ":" + Rooted(spec[(c + 1)..], baseDir);
    }

    /// <summary>Walks YamlDotNet's node tree; every error names the file and the node's line.</summary>
    sealed class YamlReader(string file)
    {
        public LayerLensException Error(YamlNode at, string message) =>
            new($"{file}:{at.Start.Line}: {message}", ErrorKind.BadInput);

        public YamlMappingNode Root(string yaml)
        {
            var stream = new YamlStream();
            try
            {
                stream.Load(new StringReader(yaml));
            }
            catch (YamlException e)
            {
                var msg = e.InnerException?.Message ?? e.Message;
                throw new LayerLensException($"{file}:{e.Start.Line}: not valid YAML ({msg.Split('\n')[0]})", ErrorKind.BadInput, e);
            }
            catch (InvalidOperationException e)
            {
                // YamlDotNet's scanner gives up this way on some unterminated constructs at the end of the text.
                int last = Math.Max(1, yaml.TrimEnd().Split('\n').Length);
                throw new LayerLensException($"{file}:{last}: not valid YAML (unexpected end of the text: an unclosed bracket or quote?)", ErrorKind.BadInput, e);
            }
            if (stream.Documents.Count == 0) throw new LayerLensException($"{file}:1: the config is empty", ErrorKind.BadInput);
            return stream.Documents[0].RootNode as YamlMappingNode
                ?? throw Error(stream.Documents[0].RootNode, "expected a mapping with models, readouts and datasets");
        }

        public YamlMappingNode Map(YamlNode n) => n as YamlMappingNode ?? throw Error(n, "expected a mapping (KEY: VALUE lines)");

        public IEnumerable<YamlNode> Seq(YamlNode n) => n is YamlSequenceNode s ? s.Children
            : throw Error(n, "expected a list ('- item' lines or [a, b])");

        public void Keys(YamlMappingNode m, params string[] allowed)
        {
            foreach (var k in m.Children.Keys)
                if (k is not YamlScalarNode s || !allowed.Contains(s.Value))
                    throw Error(k, $"unknown key '{(k as YamlScalarNode)?.Value ?? k.ToString()}' (expected {string.Join(", ", allowed)})");
        }

        public YamlNode? Opt(YamlMappingNode m, string key) =>
            m.Children.TryGetValue(new YamlScalarNode(key), out var v) && !(v is YamlScalarNode s && s.Value is null or "" && s.Style == YamlDotNet.Core.ScalarStyle.Plain) ? v : null;

        public YamlNode Required(YamlMappingNode m, string key) => Opt(m, key) ?? throw Error(m, $"missing '{key}'");

        public string Text(YamlNode n) => n is YamlScalarNode { Value: { Length: > 0 } v } ? v : throw Error(n, "expected a text value");

        public string? OptText(YamlMappingNode m, string key) => Opt(m, key) is { } n ? Text(n) : null;

        public int Int(YamlNode n) => int.TryParse(Text(n), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v
            : throw Error(n, $"expected a whole number, got '{Text(n)}'");

        public int? OptInt(YamlMappingNode m, string key) => Opt(m, key) is { } n ? Int(n) : null;

        public bool? OptBool(YamlMappingNode m, string key) => Opt(m, key) is { } n
            ? Text(n).ToLowerInvariant() switch
            {
                "true" or "yes" or "on" => true,
                "false" or "no" or "off" => false,
                var t => throw Error(n, $"expected true or false, got '{t}'"),
            }
            : null;

        public IReadOnlyDictionary<string, string>? OptPre(YamlMappingNode m, string baseDir)
        {
            if (Opt(m, "preprocessing") is not { } p) return null;
            if (p is YamlScalarNode) return new Dictionary<string, string> { ["preset"] = Text(p) };
            var map = Map(p);
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (k, v) in map.Children)
            {
                var key = Text(k);
                if (!Preprocessing.PreprocessingSpec.OptionNames.Contains(key.ToLowerInvariant().Replace('_', '-')))
                    throw Error(k, $"unknown preprocessing option '{key}' (expected {string.Join(", ", Preprocessing.PreprocessingSpec.OptionNames)})");
                var value = v is YamlSequenceNode sq ? string.Join(",", sq.Children.Select(Text)) : Text(v);
                if (key.Equals("mean-image", StringComparison.OrdinalIgnoreCase) || key.Equals("mean_image", StringComparison.OrdinalIgnoreCase))
                    value = Rooted(value, baseDir);
                result[key] = value;
            }
            return result;
        }
    }
}
