using System.Runtime.InteropServices;
using Google.Protobuf;
using LayerLens.Models.Engine;
using LayerLens.Models.Onnx.Proto;
using TorchSharp;
using static TorchSharp.torch;
using DataType = LayerLens.Models.Onnx.Proto.TensorProto.Types.DataType;

namespace LayerLens.Models.Onnx;

/// <summary>Conversion between ONNX TensorProto (inline, typed fields or external data) and libtorch tensors.</summary>
public static class OnnxTensors
{
    public static ScalarType ToScalarType(int dataType, string context) => (DataType)dataType switch
    {
        DataType.Float => ScalarType.Float32,
        DataType.Double => ScalarType.Float64,
        DataType.Float16 => ScalarType.Float16,
        DataType.Bfloat16 => ScalarType.BFloat16,
        DataType.Int64 => ScalarType.Int64,
        DataType.Int32 => ScalarType.Int32,
        DataType.Int16 => ScalarType.Int16,
        DataType.Int8 => ScalarType.Int8,
        DataType.Uint8 => ScalarType.Byte,
        DataType.Bool => ScalarType.Bool,
        _ => throw new LayerLensException($"{context}: element type {(DataType)dataType} is not supported", ErrorKind.BadInput),
    };

    public static DataType ToDataType(ScalarType type) => type switch
    {
        ScalarType.Float32 => DataType.Float,
        ScalarType.Float64 => DataType.Double,
        ScalarType.Float16 => DataType.Float16,
        ScalarType.BFloat16 => DataType.Bfloat16,
        ScalarType.Int64 => DataType.Int64,
        ScalarType.Int32 => DataType.Int32,
        ScalarType.Int16 => DataType.Int16,
        ScalarType.Int8 => DataType.Int8,
        ScalarType.Byte => DataType.Uint8,
        ScalarType.Bool => DataType.Bool,
        _ => throw new LayerLensException($"element type {type} cannot be written to ONNX", ErrorKind.BadInput),
    };

    /// <summary>Element type name ("float32", ...) of an ONNX data type code.</summary>
    public static string ElementTypeName(int dataType, string context) => ElementTypes.Name(ToScalarType(dataType, context));

    /// <summary>Reads a TensorProto; <paramref name="baseDir"/> resolves external data locations.</summary>
    public static Tensor ToTensor(TensorProto p, string? baseDir, string context)
    {
        var type = ToScalarType(p.DataType, context);
        var dims = p.Dims.ToArray();
        if (dims.Any(d => d < 0))
            throw new LayerLensException($"{context}: tensor '{p.Name}' has a negative dimension", ErrorKind.BadInput);
        long count = dims.Aggregate(1L, (a, b) => a * b);
        int size = ElementTypes.ElementSize(type);

        if (p.DataLocation == TensorProto.Types.DataLocation.External)
            return ElementTypes.FromBytes(ReadExternal(p, baseDir, count * size, context), type, dims);
        if (!p.RawData.IsEmpty)
            return ElementTypes.FromBytes(p.RawData.Span, type, dims);

        byte[] bytes;
        switch (type)
        {
            case ScalarType.Float32: bytes = MemoryMarshal.AsBytes(p.FloatData.ToArray().AsSpan()).ToArray(); break;
            case ScalarType.Float64: bytes = MemoryMarshal.AsBytes(p.DoubleData.ToArray().AsSpan()).ToArray(); break;
            case ScalarType.Int64: bytes = MemoryMarshal.AsBytes(p.Int64Data.ToArray().AsSpan()).ToArray(); break;
            case ScalarType.Int32: bytes = MemoryMarshal.AsBytes(p.Int32Data.ToArray().AsSpan()).ToArray(); break;
            case ScalarType.Int16:
            case ScalarType.Float16:
            case ScalarType.BFloat16:
                bytes = MemoryMarshal.AsBytes(p.Int32Data.Select(v => (ushort)v).ToArray().AsSpan()).ToArray(); break;
            default: // int8, uint8, bool: one value per int32
                bytes = p.Int32Data.Select(v => (byte)v).ToArray(); break;
        }
        if (bytes.Length == 0 && count > 0)
            throw new LayerLensException($"{context}: tensor '{p.Name}' of shape [{string.Join(",", dims)}] has no data", ErrorKind.BadInput);
        return ElementTypes.FromBytes(bytes, type, dims);
    }

    /// <summary>Writes a tensor as a TensorProto with raw little-endian data.</summary>
    public static TensorProto FromTensor(Tensor t, string name)
    {
        var p = new TensorProto { Name = name, DataType = (int)ToDataType(t.dtype) };
        p.Dims.AddRange(t.shape);
        p.RawData = ByteString.CopyFrom(ElementTypes.ToBytes(t));
        return p;
    }

    static byte[] ReadExternal(TensorProto p, string? baseDir, long expected, string context)
    {
        string? location = null;
        long offset = 0, length = -1;
        foreach (var kv in p.ExternalData)
        {
            switch (kv.Key)
            {
                case "location": location = kv.Value; break;
                case "offset": offset = long.Parse(kv.Value, System.Globalization.CultureInfo.InvariantCulture); break;
                case "length": length = long.Parse(kv.Value, System.Globalization.CultureInfo.InvariantCulture); break;
            }
        }
        if (location == null)
            throw new LayerLensException($"{context}: tensor '{p.Name}' is stored externally but names no location", ErrorKind.BadInput);
        if (Path.IsPathRooted(location) || location.Split('/', '\\').Contains(".."))
            throw new LayerLensException($"{context}: tensor '{p.Name}' points outside the model folder ('{location}')", ErrorKind.BadInput);
        var path = Path.Combine(baseDir ?? ".", location);
        if (!File.Exists(path))
            throw new LayerLensException($"{context}: external data file '{path}' for tensor '{p.Name}' is missing", ErrorKind.BadInput);
        if (length < 0) length = expected;
        if (length != expected)
            throw new LayerLensException($"{context}: tensor '{p.Name}' external length {length} does not match its shape ({expected} bytes)", ErrorKind.BadInput);
        using var fs = File.OpenRead(path);
        if (offset + length > fs.Length)
            throw new LayerLensException($"{context}: external data file '{path}' is too short for tensor '{p.Name}' (needs {offset + length} bytes, has {fs.Length})", ErrorKind.BadInput);
        fs.Seek(offset, SeekOrigin.Begin);
        var buf = new byte[length];
        fs.ReadExactly(buf);
        return buf;
    }
}
