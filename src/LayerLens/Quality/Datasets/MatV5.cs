using System.IO.Compression;

namespace LayerLens.Quality.Datasets;

/// <summary>
/// Reads the numeric matrices of a MATLAB level-5 .mat file (uncompressed or zlib-compressed elements), enough
/// for LIVE's dmos.mat. Cells, structs and character arrays are skipped. Little-endian files only.
/// </summary>
public static class MatV5
{
    const int MiMatrix = 14, MiCompressed = 15;

    public static Dictionary<string, double[]> ReadNumeric(string path)
    {
        if (!File.Exists(path)) throw new LayerLensException($"{path}: file not found", ErrorKind.BadInput);
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 128 || bytes[126] != (byte)'I' || bytes[127] != (byte)'M')
            throw new LayerLensException($"{path}: not a little-endian MATLAB 5 .mat file (v7.3/HDF5 files are not read here)", ErrorKind.BadInput);
        var result = new Dictionary<string, double[]>(StringComparer.Ordinal);
        try { Elements(bytes.AsSpan(128), result); }
        catch (Exception e) when (e is ArgumentOutOfRangeException or IndexOutOfRangeException or InvalidDataException)
        {
            throw new LayerLensException($"{path}: truncated or corrupt .mat file", ErrorKind.BadInput, e);
        }
        return result;
    }

    static void Elements(ReadOnlySpan<byte> data, Dictionary<string, double[]> into)
    {
        int pos = 0;
        while (pos + 8 <= data.Length)
        {
            var (type, size, start, next) = Tag(data, pos);
            var body = data.Slice(start, size);
            if (type == MiCompressed)
            {
                using var z = new ZLibStream(new MemoryStream(body.ToArray()), CompressionMode.Decompress);
                using var ms = new MemoryStream();
                z.CopyTo(ms);
                Elements(ms.ToArray(), into);
            }
            else if (type == MiMatrix) Matrix(body, into);
            pos = next;
        }
    }

    static (int Type, int Size, int Start, int Next) Tag(ReadOnlySpan<byte> d, int pos)
    {
        uint first = BitConverter.ToUInt32(d.Slice(pos, 4));
        if ((first >> 16) != 0) return ((int)(first & 0xFFFF), (int)(first >> 16), pos + 4, pos + 8); // small data element
        int type = (int)first, size = BitConverter.ToInt32(d.Slice(pos + 4, 4));
        int padded = type == MiCompressed ? size : (size + 7) / 8 * 8;
        return (type, size, pos + 8, pos + 8 + padded);
    }

    static void Matrix(ReadOnlySpan<byte> m, Dictionary<string, double[]> into)
    {
        var (_, fs, fstart, p) = Tag(m, 0);
        int cls = m[fstart] ;
        bool complex = (m[fstart + 1] & 0x08) != 0;
        if (cls < 6 || cls > 15 || complex || fs < 8) return; // not a real numeric array
        var (_, _, _, afterDims) = Tag(m, p);
        var (_, nameSize, nameStart, afterName) = Tag(m, afterDims);
        var name = System.Text.Encoding.ASCII.GetString(m.Slice(nameStart, nameSize));
        var (dt, size, start, _) = Tag(m, afterName);
        into[name] = ToDoubles(m.Slice(start, size), dt);
    }

    static double[] ToDoubles(ReadOnlySpan<byte> d, int type)
    {
        int width = type switch { 1 or 2 => 1, 3 or 4 => 2, 5 or 6 or 7 => 4, 9 or 12 or 13 => 8, _ => 0 };
        if (width == 0) throw new InvalidDataException($"unsupported MAT data type {type}");
        var v = new double[d.Length / width];
        for (int i = 0; i < v.Length; i++)
        {
            var s = d.Slice(i * width, width);
            v[i] = type switch
            {
                1 => (sbyte)s[0], 2 => s[0],
                3 => BitConverter.ToInt16(s), 4 => BitConverter.ToUInt16(s),
                5 => BitConverter.ToInt32(s), 6 => BitConverter.ToUInt32(s),
                7 => BitConverter.ToSingle(s), 9 => BitConverter.ToDouble(s),
                12 => BitConverter.ToInt64(s), _ => BitConverter.ToUInt64(s),
            };
        }
        return v;
    }
}
