using System.Text.Json;
using LayerLens.Models.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Models.TfJs;

/// <summary>
/// Reads the weights a model.json's weightsManifest declares: each group's shards are one byte stream, cut in
/// manifest order into tensors, and quantised entries are turned back into their original type the way
/// TensorFlow.js does when it loads them (float16 widened; uint8/uint16 as q·scale + min, rounded for int32).
/// </summary>
public static class TfJsWeights
{
    public static Dictionary<string, Tensor> Load(JsonElement manifest, string baseDir, string context)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            int groupIndex = 0;
            foreach (var group in manifest.EnumerateArray())
            {
                var bytes = ReadShards(group, baseDir, context, groupIndex);
                long offset = 0;
                foreach (var w in group.GetProperty("weights").EnumerateArray())
                {
                    var name = w.GetProperty("name").GetString() ?? "";
                    var where = $"{context}: weight '{name}'";
                    var shape = w.TryGetProperty("shape", out var sh) ? sh.EnumerateArray().Select(d => d.GetInt64()).ToArray() : Array.Empty<long>();
                    var dtype = w.GetProperty("dtype").GetString() ?? "";
                    long count = shape.Aggregate(1L, (a, b) => a * b);
                    Tensor t;
                    if (w.TryGetProperty("quantization", out var q))
                        t = Dequantize(bytes, ref offset, count, shape, dtype, q, where);
                    else
                    {
                        var type = StoredType(dtype, where);
                        long size = count * ElementTypes.ElementSize(type);
                        t = ElementTypes.FromBytes(Slice(bytes, offset, size, where), type, shape);
                        offset += size;
                    }
                    if (!result.TryAdd(name, t))
                    {
                        t.Dispose();
                        throw new LayerLensException($"{where}: declared twice in the weights manifest", ErrorKind.BadInput);
                    }
                }
                groupIndex++;
            }
            return result;
        }
        catch (Exception e) when (e is KeyNotFoundException || e is InvalidOperationException || e is FormatException)
        {
            foreach (var t in result.Values) t.Dispose();
            throw new LayerLensException($"{context}: malformed weightsManifest ({ModelGraph.FirstLine(e.Message)})", ErrorKind.BadInput, e);
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
    }

    static byte[] ReadShards(JsonElement group, string baseDir, string context, int groupIndex)
    {
        using var ms = new MemoryStream();
        foreach (var p in group.GetProperty("paths").EnumerateArray())
        {
            var rel = p.GetString() ?? "";
            var path = Path.Combine(baseDir, rel);
            if (!File.Exists(path))
                throw new LayerLensException($"{context}: weight shard '{rel}' of group {groupIndex} not found next to the model.json", ErrorKind.BadInput);
            using var fs = File.OpenRead(path);
            fs.CopyTo(ms);
        }
        return ms.ToArray();
    }

    static ReadOnlySpan<byte> Slice(byte[] bytes, long offset, long size, string where)
    {
        if (offset + size > bytes.Length)
            throw new LayerLensException($"{where}: needs bytes {offset}..{offset + size} but the shards hold {bytes.Length}; the .bin files may be truncated", ErrorKind.BadInput);
        return bytes.AsSpan((int)offset, (int)size);
    }

    /// <summary>TensorFlow.js keeps int64 as int32, so int32 weights stay int32 here too.</summary>
    static ScalarType StoredType(string dtype, string where) => dtype switch
    {
        "float32" => ScalarType.Float32,
        "int32" => ScalarType.Int32,
        "bool" => ScalarType.Bool,
        _ => throw new LayerLensException($"{where}: weight dtype '{dtype}' is not supported (float32, int32, bool)", ErrorKind.BadInput),
    };

    static Tensor Dequantize(byte[] bytes, ref long offset, long count, long[] shape, string dtype, JsonElement q, string where)
    {
        var qtype = q.GetProperty("dtype").GetString() ?? "";
        var target = StoredType(dtype, where);
        switch (qtype)
        {
            case "float16":
            {
                long size = count * 2;
                using var half = ElementTypes.FromBytes(Slice(bytes, offset, size, where), ScalarType.Float16, shape);
                offset += size;
                return half.to_type(target);
            }
            case "uint8":
            case "uint16":
            {
                int esize = qtype == "uint8" ? 1 : 2;
                long size = count * esize;
                var span = Slice(bytes, offset, size, where);
                offset += size;
                if (!q.TryGetProperty("scale", out var sc) || !q.TryGetProperty("min", out var mn))
                    throw new LayerLensException($"{where}: {qtype} quantisation without scale and min", ErrorKind.BadInput);
                // TensorFlow.js computes q*scale+min in double precision and stores the result as float32.
                double scale = sc.GetDouble(), min = mn.GetDouble();
                var values = new float[count];
                var ints = target == ScalarType.Int32 ? new int[count] : null;
                for (long i = 0; i < count; i++)
                {
                    double v = esize == 1 ? span[(int)i] : BitConverter.ToUInt16(span.Slice((int)i * 2, 2));
                    double x = v * scale + min;
                    if (ints != null) ints[i] = (int)Math.Floor(x + 0.5) /* JavaScript's Math.round */;
                    else values[i] = (float)x;
                }
                if (ints != null) return torch.tensor(ints, dtype: ScalarType.Int32).reshape(shape);
                if (target != ScalarType.Float32)
                    throw new LayerLensException($"{where}: {qtype} quantisation of {dtype} weights is not supported", ErrorKind.BadInput);
                return torch.tensor(values, dtype: ScalarType.Float32).reshape(shape);
            }
            default:
                throw new LayerLensException($"{where}: quantisation dtype '{qtype}' is not supported (float16, uint8, uint16)", ErrorKind.BadInput);
        }
    }
}
