using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Models.Engine;

/// <summary>Element type names as NumPy spells them ("float32", "int64", ...) and their libtorch types.</summary>
public static class ElementTypes
{
    static readonly (string Name, ScalarType Type)[] Table =
    {
        ("float32", ScalarType.Float32), ("float64", ScalarType.Float64), ("float16", ScalarType.Float16),
        ("bfloat16", ScalarType.BFloat16), ("int64", ScalarType.Int64), ("int32", ScalarType.Int32),
        ("int16", ScalarType.Int16), ("int8", ScalarType.Int8), ("uint8", ScalarType.Byte), ("bool", ScalarType.Bool),
    };

    public static ScalarType ToScalarType(string name)
    {
        foreach (var (n, t) in Table) if (n == name) return t;
        throw new LayerLensException($"element type '{name}' is not supported (supported: {string.Join(", ", Table.Select(x => x.Name))})", ErrorKind.BadInput);
    }

    public static string Name(ScalarType type)
    {
        foreach (var (n, t) in Table) if (t == type) return n;
        return type.ToString().ToLowerInvariant();
    }

    public static int ElementSize(ScalarType type) => type switch
    {
        ScalarType.Float64 or ScalarType.Int64 => 8,
        ScalarType.Float32 or ScalarType.Int32 => 4,
        ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Int16 => 2,
        _ => 1,
    };

    /// <summary>A tensor's values as 64-bit integers (shape arguments such as Reshape's target shape).</summary>
    public static long[] ToLongs(Tensor t)
    {
        using var c = t.to_type(ScalarType.Int64).cpu().contiguous();
        return c.data<long>().ToArray();
    }

    /// <summary>A tensor's values as doubles (scales, clip bounds).</summary>
    public static double[] ToDoubles(Tensor t)
    {
        using var c = t.to_type(ScalarType.Float64).cpu().contiguous();
        return c.data<double>().ToArray();
    }

    /// <summary>A new tensor of <paramref name="type"/> and <paramref name="shape"/> holding the little-endian <paramref name="bytes"/>.</summary>
    public static Tensor FromBytes(ReadOnlySpan<byte> bytes, ScalarType type, long[] shape)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        if (bytes.Length != count * ElementSize(type))
            throw new LayerLensException($"tensor data has {bytes.Length} bytes, shape [{string.Join(",", shape)}] of {Name(type)} needs {count * ElementSize(type)}", ErrorKind.BadInput);
        var t = torch.empty(shape, dtype: type);
        if (count > 0) t.bytes = bytes.ToArray();
        return t;
    }

    /// <summary>The tensor's values as little-endian bytes in C order (copied from any device).</summary>
    public static byte[] ToBytes(Tensor t)
    {
        using var c = t.detach().cpu().contiguous();
        return c.numel() == 0 ? Array.Empty<byte>() : c.bytes.ToArray();
    }
}
