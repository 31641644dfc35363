using System.Text;
using LayerLens.Models;
using PureHDF;
using PureHDF.Selections;

namespace LayerLens.Features;

/// <summary>A layer's matrix in a feature store.</summary>
public sealed record StoredLayer(string Name, string Dataset, int Dim, string Op, long[] OutputShape, int DepthIndex, double RelativeDepth, string Reducer);

/// <summary>
/// The feature store: one HDF5 file per (model, dataset, reducer), readable by h5py and MATLAB.
/// <c>/ids</c> holds the image ids in row order; <c>/features/NNNN_safe_name</c> one float32 [N, D]
/// (or float16 on request) matrix per layer with attributes name, op, output_shape, depth_index, relative_depth, reducer;
/// the root attribute <c>provenance</c> holds a JSON <see cref="FeatureProvenance"/> (its main fields
/// are also separate root attributes). The file is only ever created whole: it is assembled from
/// finished shards into a temporary file that is renamed into place.
/// </summary>
public sealed class FeatureStore
{
    FeatureStore(string path, FeatureProvenance provenance, string[] ids, IReadOnlyList<StoredLayer> layers)
    {
        Path = path;
        Provenance = provenance;
        Ids = ids;
        Layers = layers;
    }

    public string Path { get; }
    public FeatureProvenance Provenance { get; }
    public IReadOnlyList<string> Ids { get; }
    public IReadOnlyList<StoredLayer> Layers { get; }

    /// <summary>Images of the dataset left out as unreadable (--on-bad-image skip).</summary>
    public int SkippedCount { get; init; }

    /// <summary>An HDF5-safe dataset name for a layer: its index and the name with anything but letters, digits, '.', '-', '_' replaced.</summary>
    public static string SafeName(int index, string name)
    {
        var sb = new StringBuilder($"{index:D4}_");
        foreach (var c in name) sb.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_');
        return sb.ToString();
    }

    /// <summary>Assembles finished shards (in block order) into the store at <paramref name="path"/>, atomically.</summary>
    public static void Assemble(string path, FeatureProvenance provenance, IReadOnlyList<string> shardPaths, IReadOnlyDictionary<string, LayerInfo> layerInfo, string reducer)
    {
        bool half = provenance.DType == "float16";
        var headers = shardPaths.Select(FeatureShard.ReadHeader).ToList();
        var layers = headers.Select(h => h.Layers).FirstOrDefault(l => l.Length > 0) ?? Array.Empty<ShardLayer>();
        foreach (var (h, p) in headers.Zip(shardPaths))
            if (h.Ids.Length > 0 && !h.Layers.Select(l => (l.Name, l.Dim)).SequenceEqual(layers.Select(l => (l.Name, l.Dim))))
                throw new LayerLensException($"{p}: layers or dimensions differ from the other blocks", ErrorKind.Internal);
        var ids = headers.SelectMany(h => h.Ids).ToArray();
        ulong n = (ulong)ids.Length;

        var datasets = new H5Dataset[layers.Length];
        var featureGroup = new H5Group();
        for (int i = 0; i < layers.Length; i++)
        {
            var l = layers[i];
            layerInfo.TryGetValue(l.Name, out var info);
            // Contiguous row-major storage: any run of rows is one contiguous read, and the writer puts each shard's
            // rows straight into the file. (PureHDF's writing cache for chunked datasets keeps every chunk until the
            // file is closed, i.e. the whole store in memory, which made peak RSS grow with the image count.)
            var dims = new[] { n, (ulong)l.Dim };
            uint[]? chunks = null;
            H5Dataset ds = half ? new H5Dataset<Half[]>(fileDims: dims, chunks: chunks) : new H5Dataset<float[]>(fileDims: dims, chunks: chunks);
            ds.Attributes = new Dictionary<string, object>
            {
                ["name"] = l.Name,
                ["op"] = info?.OpType ?? "",
                ["output_shape"] = l.Shape,
                ["depth_index"] = info?.DepthIndex ?? -1,
                ["relative_depth"] = info?.RelativeDepth ?? double.NaN,
                ["reducer"] = reducer,
            };
            datasets[i] = ds;
            featureGroup[SafeName(info?.Index ?? i, l.Name)] = ds;
        }
        var file = new H5File
        {
            ["ids"] = ids,
            ["features"] = featureGroup,
        };
        file.Attributes = new Dictionary<string, object>
        {
            ["provenance"] = provenance.ToJson(),
            ["layerlens_version"] = provenance.LayerLensVersion,
            ["model"] = provenance.Model,
            ["model_sha256"] = provenance.ModelSha256,
            ["preprocessing"] = provenance.Preprocessing,
            ["reducer"] = provenance.Reducer,
            ["seed"] = provenance.Seed,
            ["dataset"] = provenance.Dataset,
            ["image_count"] = ids.Length,
            // Images left out with --on-bad-image skip.
            ["skipped_count"] = headers.Sum(h => h.Skipped.Length),
        };
        var skipped = headers.SelectMany(h => h.Skipped).ToArray();
        if (skipped.Length > 0)
        {
            file.Attributes["skipped_ids"] = skipped.Select(s => s.Id).ToArray();
            file.Attributes["skipped_reasons"] = skipped.Select(s => s.Reason).ToArray();
        }

        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var tmp = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(path)}.tmp-{Environment.ProcessId}");
        try
        {
            using (var writer = file.BeginWrite(tmp))
            {
                ulong row = 0;
                // One array per layer and shard length, reused for every shard: fresh arrays per shard were large-object
                // garbage that the runtime kept (peak RSS grew by about the size of the store while assembling).
                var buffers = new Dictionary<(int, long), float[]>();
                float[] Buffer(int layer, long length) =>
                    buffers.TryGetValue((layer, length), out var b) ? b : buffers[(layer, length)] = new float[length];
                foreach (var shard in shardPaths)
                {
                    ulong rows = 0;
                    var header = FeatureShard.Read(shard, (i, data) =>
                    {
                        rows = (ulong)(data.LongLength / Math.Max(1, layers[i].Dim));
                        if (rows == 0) return;
                        var sel = new HyperslabSelection(2, new[] { row, 0UL }, new[] { rows, (ulong)layers[i].Dim });
                        if (half) writer.Write((H5Dataset<Half[]>)datasets[i], Array.ConvertAll(data, v => (Half)v), fileSelection: sel);
                        else writer.Write((H5Dataset<float[]>)datasets[i], data, fileSelection: sel);
                    }, Buffer);
                    row += (ulong)header.Ids.Length;
                }
            }
            using (var fs = new FileStream(tmp, FileMode.Open, FileAccess.ReadWrite)) fs.Flush(flushToDisk: true);
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>Opens a store and reads its ids, layer table and provenance (not the matrices).</summary>
    public static FeatureStore Open(string path)
    {
        if (!File.Exists(path)) throw new LayerLensException($"{path}: feature store not found", ErrorKind.BadInput);
        try
        {
            using var file = H5File.OpenRead(path);
            if (!file.AttributeExists("provenance")) throw new LayerLensException($"{path}: not a LayerLens feature store (no provenance attribute)", ErrorKind.BadInput);
            var prov = FeatureProvenance.FromJson(file.Attribute("provenance").Read<string>(), path);
            var ids = file.Dataset("ids").Read<string[]>();
            var layers = new List<StoredLayer>();
            var group = file.Group("features");
            foreach (var obj in group.Children())
            {
                if (obj is not IH5Dataset ds) continue;
                var dims = ds.Space.Dimensions;
                layers.Add(new StoredLayer(
                    ds.Attribute("name").Read<string>(), "features/" + obj.Name, dims.Length == 2 ? (int)dims[1] : 0,
                    ds.Attribute("op").Read<string>(), ds.Attribute("output_shape").Read<long[]>(),
                    ds.Attribute("depth_index").Read<int>(), ds.Attribute("relative_depth").Read<double>(),
                    ds.Attribute("reducer").Read<string>()));
            }
            layers.Sort((a, b) => string.CompareOrdinal(a.Dataset, b.Dataset));
            int skipped = file.AttributeExists("skipped_count") ? file.Attribute("skipped_count").Read<int>() : 0;
            return new FeatureStore(path, prov, ids, layers) { SkippedCount = skipped };
        }
        catch (Exception e) when (e is not LayerLensException && e is not OutOfMemoryException)
        {
            throw new LayerLensException($"{path}: not a readable feature store ({e.Message.Split('\n')[0]})", ErrorKind.BadInput, e);
        }
    }

    /// <summary>A layer's matrix, row-major [N, D].</summary>
    public float[] Read(string layerName)
    {
        var layer = Layers.FirstOrDefault(l => l.Name == layerName)
            ?? throw new LayerLensException($"{Path}: no layer '{layerName}' in the store", ErrorKind.Usage);
        using var file = H5File.OpenRead(Path);
        var ds = file.Dataset(layer.Dataset);
        return Provenance.DType == "float16" ? Array.ConvertAll(ds.Read<Half[]>(), h => (float)h) : ds.Read<float[]>();
    }
}
