using System.Reflection;

namespace LayerLens.Classification;

/// <summary>Class names in model output order: a built-in set ("coco80", "emotion7") or a text file, one name per line.</summary>
public sealed class LabelSet
{
    LabelSet(string name, IReadOnlyList<string> names)
    {
        Name = name;
        Names = names;
    }

    public string Name { get; }
    public IReadOnlyList<string> Names { get; }
    public int Count => Names.Count;

    public string this[int index] => index >= 0 && index < Names.Count ? Names[index] : $"class_{index}";

    public static IReadOnlyList<string> BuiltIn { get; } = new[] { "coco80", "emotion7" };

    /// <summary>A built-in set by name, or a label file by path (blank lines and lines starting with # are skipped).</summary>
    public static LabelSet Load(string nameOrPath)
    {
        if (BuiltIn.Contains(nameOrPath))
        {
            using var s = typeof(LabelSet).Assembly.GetManifestResourceStream($"LayerLens.Classification.Labels.{nameOrPath}.txt")
                ?? throw new LayerLensException($"built-in label set '{nameOrPath}' is missing from the library", ErrorKind.Internal);
            using var r = new StreamReader(s);
            return new LabelSet(nameOrPath, Parse(r.ReadToEnd()));
        }
        if (!File.Exists(nameOrPath))
            throw new LayerLensException($"{nameOrPath}: label file not found (built-in sets: {string.Join(", ", BuiltIn)})", ErrorKind.BadInput);
        var names = Parse(File.ReadAllText(nameOrPath));
        if (names.Count == 0) throw new LayerLensException($"{nameOrPath}: label file has no names", ErrorKind.BadInput);
        return new LabelSet(Path.GetFileNameWithoutExtension(nameOrPath), names);
    }

    public static LabelSet FromNames(string name, IReadOnlyList<string> names) => new(name, names.ToArray());

    static List<string> Parse(string text) =>
        text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
}
