using LayerLens.Images;
using LayerLens.Models;
using LayerLens.Models.Engine;
using LayerLens.Zoo;

namespace LayerLens.Cli.Commands;

/// <summary>What detect and classify share: the image list, the model with its zoo entry and preprocessing.</summary>
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

}
