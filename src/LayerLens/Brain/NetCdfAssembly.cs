using PureHDF;
using static TorchSharp.torch;

namespace LayerLens.Brain;

/// <summary>
/// Reads a Brain-Score NeuroidAssembly saved as netCDF4 (HDF5 inside) with PureHDF. The responses are the numeric
/// dataset with the most dimensions (presentation × neuroid [× time_bin]; time bins are averaged); coordinates are
/// the 1-D datasets stimulus_id, repetition, object_name (presentation) and neuroid_id, region (neuroid).
/// </summary>
internal static class NetCdfAssembly
{
    public static NeuralAssembly Read(string path)
    {
        Native.TorchRuntime.EnsureLoaded();
        PureHDF.VOL.Native.NativeFile file;
        try { file = H5File.OpenRead(path); }
        catch (Exception e) { throw new LayerLensException($"{path}: not a readable netCDF4/HDF5 file ({e.Message})", ErrorKind.BadInput, e); }
        using (file)
        {
            var datasets = file.Children().OfType<IH5Dataset>().ToList();
            var data = datasets.Where(d => d.Space.Dimensions.Length >= 2 && d.Type.Class is H5DataTypeClass.FloatingPoint or H5DataTypeClass.FixedPoint)
                .OrderByDescending(d => d.Space.Dimensions.Length).ThenByDescending(d => d.Space.Dimensions.Aggregate(1UL, (a, b) => a * b)).FirstOrDefault()
                ?? throw new LayerLensException($"{path}: no response array (a numeric dataset with two or more dimensions)", ErrorKind.BadInput);
            string[] Strings(string name)
            {
                var ds = datasets.FirstOrDefault(d => d.Name == name)
                    ?? throw new LayerLensException($"{path}: no coordinate '{name}' (datasets: {string.Join(", ", datasets.Select(d => d.Name))})", ErrorKind.BadInput);
                return ds.Type.Class == H5DataTypeClass.String || ds.Type.Class == H5DataTypeClass.VariableLength
                    ? ds.Read<string[]>()
                    : ReadNumbers(ds).Select(v => v.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            }
            var stim = Strings("stimulus_id");
            var rep = datasets.Any(d => d.Name == "repetition")
                ? ReadNumbers(datasets.First(d => d.Name == "repetition")).Select(v => (int)v).ToArray()
                : new int[stim.Length];
            var obj = datasets.Any(d => d.Name == "object_name") ? Strings("object_name") : null;
            var nid = Strings("neuroid_id");
            var region = Strings("region");
            var dims = data.Space.Dimensions.Select(d => (long)d).ToArray();
            var values = ReadNumbers(data);
            var t = tensor(values, dims, dtype: ScalarType.Float64);
            if (dims.Length == 3) t = t.mean(new long[] { 2 });
            else if (dims.Length > 3) throw new LayerLensException($"{path}: response array has {dims.Length} dimensions; expected presentation × neuroid [× time_bin]", ErrorKind.BadInput);
            if (t.shape[0] == nid.Length && t.shape[1] == stim.Length && nid.Length != stim.Length) t = t.T.contiguous();
            return new NeuralAssembly(t, stim, rep, obj, nid, region, path);
        }
    }

    static double[] ReadNumbers(IH5Dataset ds)
    {
        var type = ds.Type;
        if (type.Class == H5DataTypeClass.FloatingPoint)
            return type.Size == 4 ? ds.Read<float[]>().Select(v => (double)v).ToArray() : ds.Read<double[]>();
        if (type.Class == H5DataTypeClass.FixedPoint)
            return type.Size switch
            {
                8 => ds.Read<long[]>().Select(v => (double)v).ToArray(),
                4 => ds.Read<int[]>().Select(v => (double)v).ToArray(),
                2 => ds.Read<short[]>().Select(v => (double)v).ToArray(),
                _ => ds.Read<byte[]>().Select(v => (double)v).ToArray(),
            };
        throw new LayerLensException($"dataset '{ds.Name}' has type {type.Class}, expected numbers", ErrorKind.BadInput);
    }
}
