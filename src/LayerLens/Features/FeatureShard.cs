using System.Text;
using System.Text.Json;

namespace LayerLens.Features;

/// <summary>Per-layer description inside a shard and the final store.</summary>
public sealed record ShardLayer(string Name, int Dim, long[] Shape);

/// <summary>An image left out with the reason (only with --on-bad-image skip).</summary>
public sealed record SkippedImage(string Id, string Reason);

/// <summary>
/// One finished block of rows, written atomically (temp file, flush to disk, rename) so a killed run
/// leaves either the whole block or nothing. Layout: "LLSHARD1", int32 header length, JSON header
/// (block, ids, skipped, layers), then each layer's rows×dim float32 little-endian, then "END!".
/// </summary>
public sealed class FeatureShard
{
    static readonly byte[] Magic = "LLSHARD1"u8.ToArray();
    static readonly byte[] Tail = "END!"u8.ToArray();

    public sealed record Header(int Block, string[] Ids, SkippedImage[] Skipped, ShardLayer[] Layers);

    public static string FileName(int block) => $"block-{block:D6}.shard";

    public static void Write(string path, Header header, IReadOnlyList<float[]> layerData)
    {
        var tmp = path + $".tmp-{Environment.ProcessId}";
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            var json = JsonSerializer.SerializeToUtf8Bytes(header);
            fs.Write(Magic);
            fs.Write(BitConverter.GetBytes(json.Length));
            fs.Write(json);
            for (int i = 0; i < header.Layers.Length; i++)
            {
                var expected = (long)header.Ids.Length * header.Layers[i].Dim;
                if (layerData[i].LongLength < expected) throw new LayerLensException($"internal: layer {header.Layers[i].Name} has {layerData[i].Length} values, expected {expected}", ErrorKind.Internal);
                fs.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(layerData[i].AsSpan(0, checked((int)expected))));
            }
            fs.Write(Tail);
            fs.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
    }

    public static Header ReadHeader(string path) => Read(path, null);

    /// <summary>Reads the header and calls <paramref name="onLayer"/> with each layer's data in turn; <paramref name="allocate"/>
    /// (layer index, length) can hand out reused arrays so that reading many shards makes no garbage.</summary>
    public static Header Read(string path, Action<int, float[]>? onLayer, Func<int, long, float[]>? allocate = null)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        var magic = new byte[8];
        fs.ReadExactly(magic);
        if (!magic.AsSpan().SequenceEqual(Magic)) throw new LayerLensException($"{path}: not a LayerLens feature shard", ErrorKind.BadInput);
        var lenBytes = new byte[4];
        fs.ReadExactly(lenBytes);
        var json = new byte[BitConverter.ToInt32(lenBytes)];
        fs.ReadExactly(json);
        var header = JsonSerializer.Deserialize<Header>(json) ?? throw new LayerLensException($"{path}: empty shard header", ErrorKind.BadInput);
        long dataBytes = header.Layers.Sum(l => (long)l.Dim * header.Ids.Length * 4);
        if (fs.Length != 12 + json.Length + dataBytes + Tail.Length)
            throw new LayerLensException($"{path}: shard has {fs.Length} bytes, expected {12 + json.Length + dataBytes + Tail.Length}", ErrorKind.BadInput);
        if (onLayer != null)
        {
            for (int i = 0; i < header.Layers.Length; i++)
            {
                long length = (long)header.Layers[i].Dim * header.Ids.Length;
                var data = allocate?.Invoke(i, length) ?? new float[length];
                fs.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan()));
                onLayer(i, data);
            }
        }
        return header;
    }
}
