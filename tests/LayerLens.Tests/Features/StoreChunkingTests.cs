using LayerLens.Features;
using LayerLens.Models;

namespace LayerLens.Tests.Features;

public class StoreChunkingTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Store_assembled_from_shards_that_straddle_chunks_reads_back_every_value(bool float16)
    {
        // 3 shards of 70, 70 and 57 rows: 197 rows in chunks of 64 rows, two of them split across shards, so the
        // writer's chunk cache must write chunks out as later ones are reached, and never one before it is full.
        var dir = TestPaths.NewTempDir();
        var layers = new[] { new ShardLayer("a", 5, new long[] { 5 }), new ShardLayer("b/c", 3, new long[] { 3, 1, 1 }) };
        int[] sizes = { 70, 70, 57 };
        float Value(int layer, long row, int col) => layer * 100000 + row * 10 + col + 0.25f;
        var paths = new List<string>();
        long start = 0;
        for (int s = 0; s < sizes.Length; s++)
        {
            var ids = Enumerable.Range(0, sizes[s]).Select(i => $"img{start + i:D4}").ToArray();
            var data = layers.Select((l, li) => Enumerable.Range(0, sizes[s] * l.Dim)
                .Select(k => Value(li, start + k / l.Dim, k % l.Dim)).ToArray()).ToList();
            var path = Path.Combine(dir, FeatureShard.FileName(s));
            FeatureShard.Write(path, new FeatureShard.Header(s, ids, Array.Empty<SkippedImage>(), layers), data);
            paths.Add(path);
            start += sizes[s];
        }
        var output = Path.Combine(dir, "store.h5");
        var provenance = new FeatureProvenance { Reducer = "gap", ImageCount = 197, DType = float16 ? "float16" : "float32" };
        FeatureStore.Assemble(output, provenance, paths, new Dictionary<string, LayerInfo>(), "gap");

        var store = FeatureStore.Open(output);
        Assert.Equal(197, store.Ids.Count);
        Assert.Equal("img0196", store.Ids[196]);
        for (int li = 0; li < layers.Length; li++)
        {
            var m = store.Read(layers[li].Name);
            Assert.Equal(197 * layers[li].Dim, m.Length);
            for (int k = 0; k < m.Length; k++)
            {
                float expected = Value(li, k / layers[li].Dim, k % layers[li].Dim);
                if (float16) expected = (float)(Half)expected;
                Assert.True(m[k] == expected, $"layer {layers[li].Name} row {k / layers[li].Dim} col {k % layers[li].Dim}: {m[k]} vs {expected}");
            }
        }
    }
}
