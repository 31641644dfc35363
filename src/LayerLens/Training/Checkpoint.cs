using System.Text;
using System.Text.Json;
using LayerLens.Models.Engine;
using static TorchSharp.torch;

namespace LayerLens.Training;

/// <summary>
/// A training checkpoint: named tensors (weights, head, optimiser moments) and a JSON record (epoch, step,
/// best score, options). One file, written to a temporary name and renamed into place, so a run killed at
/// any moment leaves either the previous checkpoint or the new one, never half of one.
/// </summary>
public static class Checkpoint
{
    const string Magic = "LAYERLENS-CHECKPOINT-1\n";

    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string> record)
    {
        var entries = tensors.Select(kv => new Entry(kv.Key, ElementTypes.Name(kv.Value.dtype), kv.Value.shape)).ToList();
        var header = JsonSerializer.SerializeToUtf8Bytes(new Header(record.ToDictionary(kv => kv.Key, kv => kv.Value), entries));
        var tmp = path + ".tmp-" + Environment.ProcessId;
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write))
        {
            fs.Write(Encoding.ASCII.GetBytes(Magic));
            fs.Write(BitConverter.GetBytes(header.Length));
            fs.Write(header);
            foreach (var kv in tensors) fs.Write(ElementTypes.ToBytes(kv.Value));
            fs.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
    }

    public static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> Record) Load(string path)
    {
        using var fs = File.OpenRead(path);
        var magic = new byte[Magic.Length];
        fs.ReadExactly(magic);
        if (Encoding.ASCII.GetString(magic) != Magic)
            throw new LayerLensException($"{path}: not a LayerLens checkpoint", ErrorKind.BadInput);
        var len = new byte[4];
        fs.ReadExactly(len);
        var headerBytes = new byte[BitConverter.ToInt32(len)];
        fs.ReadExactly(headerBytes);
        var header = JsonSerializer.Deserialize<Header>(headerBytes)
                     ?? throw new LayerLensException($"{path}: checkpoint header is empty", ErrorKind.BadInput);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var e in header.Tensors)
        {
            var type = ElementTypes.ToScalarType(e.Type);
            long bytes = e.Shape.Aggregate(1L, (a, b) => a * b) * ElementTypes.ElementSize(type);
            var buf = new byte[bytes];
            fs.ReadExactly(buf);
            tensors[e.Name] = ElementTypes.FromBytes(buf, type, e.Shape);
        }
        return (tensors, header.Record);
    }

    sealed record Entry(string Name, string Type, long[] Shape);
    sealed record Header(Dictionary<string, string> Record, List<Entry> Tensors);
}
