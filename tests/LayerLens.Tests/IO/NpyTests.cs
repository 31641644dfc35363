using LayerLens.IO;
using LayerLens.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Tests.IO;

public class NpyTests
{
    public NpyTests() => TorchRuntime.EnsureLoaded();

    static string Fixture(string name) => Path.Combine(TestPaths.Fixtures, "Npy", name);

    [Theory]
    [InlineData("f32_v1.npy")]
    [InlineData("f32_v2.npy")]
    [InlineData("f32_v3.npy")]
    public void Reads_every_header_version_numpy_writes(string file)
    {
        using var t = Npy.Read(Fixture(file));
        Assert.Equal(ScalarType.Float32, t.dtype);
        Assert.Equal(new long[] { 2, 3, 4 }, t.shape);
        var expected = Enumerable.Range(0, 24).Select(i => i / 8f - 1).ToArray();
        Assert.Equal(expected, t.data<float>().ToArray());
    }

    [Fact]
    public void Reads_other_element_types_scalars_and_empty_arrays()
    {
        using (var t = Npy.Read(Fixture("f64.npy"))) Assert.Equal(new[] { 0, 0.5, 1, 1.5, 2 }, t.data<double>().ToArray());
        using (var t = Npy.Read(Fixture("i64.npy")))
        {
            Assert.Equal(new long[] { 3, 2 }, t.shape);
            Assert.Equal(new long[] { -3, -2, -1, 0, 1, 2 }, t.data<long>().ToArray());
        }
        using (var t = Npy.Read(Fixture("u8.npy"))) Assert.Equal(Enumerable.Range(0, 10).Select(i => (byte)i), t.data<byte>().ToArray());
        using (var t = Npy.Read(Fixture("bool.npy"))) Assert.Equal(new[] { true, false, true, false }, t.data<bool>().ToArray());
        using (var t = Npy.Read(Fixture("scalar.npy")))
        {
            Assert.Empty(t.shape);
            Assert.Equal(3.5f, t.item<float>());
        }
        using (var t = Npy.Read(Fixture("empty.npy"))) Assert.Equal(new long[] { 0, 3 }, t.shape);
    }

    [Theory]
    [InlineData("fortran.npy", "Fortran-order")]
    [InlineData("bigendian.npy", "big-endian")]
    public void Unsupported_layouts_get_a_clear_error(string file, string words)
    {
        var e = Assert.Throws<LayerLensException>(() => Npy.Read(Fixture(file)));
        Assert.Contains(words, e.Message);
        Assert.Contains(file, e.Message);
    }

    [Fact]
    public void Truncated_or_foreign_files_are_named_in_the_error()
    {
        var dir = TestPaths.NewTempDir();
        var truncated = Path.Combine(dir, "cut.npy");
        var bytes = File.ReadAllBytes(Fixture("f32_v1.npy"));
        File.WriteAllBytes(truncated, bytes.Take(bytes.Length - 10).ToArray());
        Assert.Contains("cut.npy: truncated", Assert.Throws<LayerLensException>(() => Npy.Read(truncated)).Message);
        var text = Path.Combine(dir, "text.npy");
        File.WriteAllText(text, "hello");
        Assert.Contains("not a NumPy .npy file", Assert.Throws<LayerLensException>(() => Npy.Read(text)).Message);
    }

    [Fact]
    public void Files_written_are_read_back_identically_by_numpy()
    {
        var dir = TestPaths.NewTempDir();
        using var a = torch.arange(60, dtype: ScalarType.Float32).reshape(3, 4, 5) * 0.25f;
        using var b = torch.tensor(new long[] { -5, 7, 1L << 40 });
        Npy.Write(Path.Combine(dir, "a.npy"), a);
        Npy.Write(Path.Combine(dir, "b.npy"), b);
        var output = TestPaths.RunPython(
            "import sys, numpy as np\n" +
            "a = np.load(sys.argv[1]); b = np.load(sys.argv[2])\n" +
            "assert a.dtype == np.float32 and a.shape == (3, 4, 5), (a.dtype, a.shape)\n" +
            "assert np.array_equal(a, (np.arange(60, dtype=np.float32) * 0.25).reshape(3, 4, 5))\n" +
            "assert b.dtype == np.int64 and list(b) == [-5, 7, 1 << 40]\n" +
            "print('ok')", Path.Combine(dir, "a.npy"), Path.Combine(dir, "b.npy"));
        Assert.Contains("ok", output);
        using var back = Npy.Read(Path.Combine(dir, "a.npy"));
        Assert.True(back.allclose(a, 0, 0));
    }
}
