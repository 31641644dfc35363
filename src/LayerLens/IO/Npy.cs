using System.Text;
using System.Text.RegularExpressions;
using LayerLens.Models.Engine;
using static TorchSharp.torch;

namespace LayerLens.IO;

/// <summary>
/// NumPy's .npy format (versions 1.0, 2.0 and 3.0 headers; little-endian, C order), read into and written from
/// libtorch tensors. See numpy.lib.format for the layout.
/// </summary>
public static partial class Npy
{
    static readonly byte[] Magic = { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y' };

    static readonly (string Descr, ScalarType Type)[] Types =
    {
        ("<f4", ScalarType.Float32), ("<f8", ScalarType.Float64), ("<f2", ScalarType.Float16),
        ("<i8", ScalarType.Int64), ("<i4", ScalarType.Int32), ("<i2", ScalarType.Int16),
        ("|i1", ScalarType.Int8), ("|u1", ScalarType.Byte), ("|b1", ScalarType.Bool),
    };

    public static Tensor Read(string path)
    {
        if (!File.Exists(path)) throw new LayerLensException($"{path}: file not found", ErrorKind.BadInput);
        using var fs = File.OpenRead(path);
        return Read(fs, path);
    }

    public static Tensor Read(Stream s, string name)
    {
        var magic = new byte[8];
        if (s.Read(magic, 0, 8) != 8 || !magic.AsSpan(0, 6).SequenceEqual(Magic))
            throw new LayerLensException($"{name}: not a NumPy .npy file (bad magic bytes)", ErrorKind.BadInput);
        int major = magic[6];
        int headerLen;
        var lenBytes = new byte[major == 1 ? 2 : 4];
        if (s.Read(lenBytes, 0, lenBytes.Length) != lenBytes.Length)
            throw new LayerLensException($"{name}: truncated .npy header", ErrorKind.BadInput);
        if (major == 1) headerLen = BitConverter.ToUInt16(lenBytes);
        else if (major is 2 or 3) headerLen = checked((int)BitConverter.ToUInt32(lenBytes));
        else throw new LayerLensException($"{name}: .npy format version {major} is not supported (1, 2 and 3 are)", ErrorKind.BadInput);
        var headerBytes = new byte[headerLen];
        if (s.Read(headerBytes, 0, headerLen) != headerLen)
            throw new LayerLensException($"{name}: truncated .npy header", ErrorKind.BadInput);
        var header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(headerBytes);

        var descr = HeaderValue(header, "descr", name);
        var fortran = HeaderValue(header, "fortran_order", name);
        var shapeText = HeaderValue(header, "shape", name);
        if (fortran.Trim() != "False")
            throw new LayerLensException($"{name}: Fortran-order arrays are not supported; save with np.ascontiguousarray(a)", ErrorKind.BadInput);
        descr = descr.Trim().Trim('\'', '"');
        if (descr.StartsWith('>'))
            throw new LayerLensException($"{name}: big-endian data ({descr}) is not supported; convert with a.astype(a.dtype.newbyteorder('<'))", ErrorKind.BadInput);
        if (descr.StartsWith('='))
            descr = (BitConverter.IsLittleEndian ? "<" : ">") + descr[1..];
        if (descr is "<u1" or "<i1" or "<b1") descr = "|" + descr[1..];
        var type = Types.FirstOrDefault(t => t.Descr == descr);
        if (type.Descr == null)
            throw new LayerLensException($"{name}: element type '{descr}' is not supported (float32, float64, float16, int64, int32, int16, int8, uint8, bool are)", ErrorKind.BadInput);
        var shape = ParseShape(shapeText, name);
        long count = shape.Aggregate(1L, (a, b) => a * b);
        long bytes = count * ElementTypes.ElementSize(type.Type);
        var data = new byte[bytes];
        int read = 0;
        while (read < bytes)
        {
            int n = s.Read(data, read, (int)Math.Min(int.MaxValue, bytes - read));
            if (n == 0) throw new LayerLensException($"{name}: truncated .npy data ({read} of {bytes} bytes)", ErrorKind.BadInput);
            read += n;
        }
        return ElementTypes.FromBytes(data, type.Type, shape);
    }

    /// <summary>Writes atomically (a temporary file renamed into place), so a killed run never leaves half a file.</summary>
    public static void Write(string path, Tensor t)
    {
        var tmp = path + ".tmp-" + Environment.ProcessId;
        using (var fs = File.Create(tmp)) Write(fs, t);
        File.Move(tmp, path, overwrite: true);
    }

    public static void Write(Stream s, Tensor t)
    {
        var type = Types.FirstOrDefault(x => x.Type == t.dtype);
        if (type.Descr == null)
            throw new LayerLensException($"tensor of type {t.dtype} cannot be written as .npy", ErrorKind.Internal);
        var shape = t.shape;
        string shapeText = shape.Length == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape) + ")";
        var dict = $"{{'descr': '{type.Descr}', 'fortran_order': False, 'shape': {shapeText}, }}";
        int version = 1;
        int total = Magic.Length + 2 + 2 + dict.Length + 1;
        if (total + 63 > ushort.MaxValue) { version = 2; total += 2; }
        int padding = (64 - total % 64) % 64;
        var header = dict + new string(' ', padding) + "\n";
        s.Write(Magic);
        s.WriteByte((byte)version);
        s.WriteByte(0);
        if (version == 1) s.Write(BitConverter.GetBytes((ushort)header.Length));
        else s.Write(BitConverter.GetBytes((uint)header.Length));
        s.Write(Encoding.Latin1.GetBytes(header));
        s.Write(ElementTypes.ToBytes(t));
    }

    static string HeaderValue(string header, string key, string name)
    {
        var m = Regex.Match(header, $"['\"]{key}['\"]\\s*:\\s*(\\([^)]*\\)|'[^']*'|\"[^\"]*\"|True|False)");
        if (!m.Success) throw new LayerLensException($"{name}: .npy header has no '{key}'", ErrorKind.BadInput);
        return m.Groups[1].Value;
    }

    static long[] ParseShape(string text, string name)
    {
        var inner = text.Trim().TrimStart('(').TrimEnd(')');
        var parts = inner.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var dims = new long[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!long.TryParse(parts[i].TrimEnd('L'), out dims[i]) || dims[i] < 0)
                throw new LayerLensException($"{name}: bad shape {text} in .npy header", ErrorKind.BadInput);
        return dims;
    }
}
