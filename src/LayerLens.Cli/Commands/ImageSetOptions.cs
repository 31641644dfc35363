using LayerLens.Images;
using LayerLens.Models;
using LayerLens.Models.Engine;
using LayerLens.Zoo;

namespace LayerLens.Cli.Commands;

/// <summary>What detect and classify share: the image list, the model with its zoo entry, atomic writes.</summary>
public static class ImageSetOptions
{
    /// <summary>(id, path) of the images in a folder (sorted) or a manifest: one path per line, or "id,path" CSV lines.</summary>
    public static List<(string Id, string Path)> List(string dirOrManifest)
    {
        if (Directory.Exists(dirOrManifest))
        {
            var files = Directory.EnumerateFiles(dirOrManifest)
                .Where(f => ImageDecoder.Extensions.Contains(Path.GetExtension(f)))
                .OrderBy(f => f, StringComparer.Ordinal)
                .Select(f => (Path.GetFileNameWithoutExtension(f), f)).ToList();
            if (files.Count == 0) throw new LayerLensException($"{dirOrManifest}: no images (extensions {string.Join(", ", ImageDecoder.Extensions)})", ErrorKind.BadInput);
            return files;
        }
        if (!File.Exists(dirOrManifest)) throw new LayerLensException($"{dirOrManifest}: no such folder or manifest file", ErrorKind.BadInput);
        var baseDir = Path.GetDirectoryName(Path.GetFullPath(dirOrManifest))!;
        var list = new List<(string, string)>();
        int lineNo = 0;
        foreach (var raw in File.ReadLines(dirOrManifest))
        {
            lineNo++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            if (lineNo == 1 && line.Equals("id,path", StringComparison.OrdinalIgnoreCase)) continue;
            string id, path;
            int comma = line.IndexOf(',');
            if (comma > 0) { id = line[..comma].Trim(); path = line[(comma + 1)..].Trim(); }
            else { path = line; id = Path.GetFileNameWithoutExtension(path); }
            if (!Path.IsPathRooted(path)) path = Path.Combine(baseDir, path);
            if (!File.Exists(path)) throw new LayerLensException($"{dirOrManifest}:{lineNo}: image '{path}' not found", ErrorKind.BadInput);
            list.Add((id, path));
        }
        if (list.Count == 0) throw new LayerLensException($"{dirOrManifest}: manifest lists no images", ErrorKind.BadInput);
        return list;
    }

    /// <summary>The model graph and, for zoo:NAME, its zoo entry (which supplies preprocessing, head and labels).</summary>
    public static (ModelGraph Graph, ZooEntry? Entry) LoadModel(string spec, string device)
    {
        ZooEntry? entry = spec.StartsWith("zoo:", StringComparison.Ordinal) ? ModelZoo.Default().Get(spec[4..]) : null;
        return (ModelLoader.Load(spec, ComputeDevice.Parse(device)), entry);
    }

    /// <summary>Input size: --input-size, the zoo entry's, or the model's declared H×W.</summary>
    public static (int H, int W) InputSize(ModelGraph graph, ZooEntry? entry, string? option, bool nchw)
    {
        if (option != null) return CommonOptions.ParseSize(option);
        if (entry != null) return (entry.InputSize[0], entry.InputSize[1]);
        var s = graph.Inputs[0].Shape;
        if (s.Length == 4)
        {
            long h = nchw ? s[2] : s[1], w = nchw ? s[3] : s[2];
            if (h > 0 && w > 0) return ((int)h, (int)w);
        }
        throw new LayerLensException($"model '{graph.Name}' does not declare its input size; give --input-size", ErrorKind.Usage);
    }

    /// <summary>Writes through a temporary file and a rename, so a killed run leaves no half-written file.</summary>
    public static void WriteAtomically(string path, Action<TextWriter> write)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.tmp-{Environment.ProcessId}");
        using (var w = new StreamWriter(tmp)) write(w);
        File.Move(tmp, path, overwrite: true);
    }
}
