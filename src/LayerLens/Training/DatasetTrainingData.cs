using System.Collections.Concurrent;
using LayerLens.Datasets;
using LayerLens.Images;
using LayerLens.Preprocessing;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Training;

/// <summary>
/// Training data read from an image dataset: each image decoded and brought to the model's size (the geometric
/// part of its preprocessing) as [0, 1] RGB, so augmentation happens before the value part (range, channel
/// order, normalisation, layout), which <see cref="ValueStage"/> applies.
/// </summary>
public sealed class DatasetTrainingData : ITrainingData, IDisposable
{
    readonly ImageDataset _dataset;
    readonly double[] _targets;
    readonly ImagePreprocessor _geometry;
    readonly ConcurrentDictionary<int, Tensor> _cache = new();
    readonly bool _cacheImages;

    public DatasetTrainingData(ImageDataset dataset, string targetColumn, PreprocessingSpec spec, bool classes, IReadOnlyList<string>? classNames = null, bool? cacheImages = null)
    {
        _dataset = dataset;
        if (!dataset.Columns.Contains(targetColumn))
            throw new LayerLensException($"{dataset.Source}: no column '{targetColumn}' (columns: {string.Join(", ", dataset.Columns)})", ErrorKind.BadInput);
        if (classes)
        {
            var labels = dataset.Items.Select(i => i.Columns[targetColumn]).ToList();
            ClassNames = classNames ?? labels.Distinct().Order(StringComparer.Ordinal).ToList();
            var index = ClassNames.Select((c, k) => (c, k)).ToDictionary(x => x.c, x => x.k, StringComparer.Ordinal);
            _targets = labels.Select((l, row) => index.TryGetValue(l, out var k) ? k
                : throw new LayerLensException($"{dataset.Items[row].Origin}: class '{l}' is not among the training classes", ErrorKind.BadInput)).Select(k => (double)k).ToArray();
        }
        else
        {
            _targets = dataset.Numbers(targetColumn);
        }
        _geometry = new ImagePreprocessor(spec with
        {
            Range = ValueRange.Unit, Channels = ChannelOrder.Rgb, Mean = null, Std = null, MeanImage = null, Layout = TensorLayout.Nchw,
        });
        // Decoded images are kept in memory for small sets only (4,000 images at 224² are ~2.4 GB).
        _cacheImages = cacheImages ?? dataset.Count <= 4000;
    }

    public IReadOnlyList<string> ClassNames { get; } = Array.Empty<string>();
    public int Count => _dataset.Count;
    public ImageDataset Dataset => _dataset;

    /// <summary>The value part of <paramref name="spec"/>, applied to [0, 1] RGB NCHW batches.</summary>
    public static Func<Tensor, Tensor> ValueStage(PreprocessingSpec spec)
    {
        var values = new ImagePreprocessor(spec with { ResizeShorter = null, ResizeExact = null, CenterCrop = null });
        return batch => torch.stack(Enumerable.Range(0, (int)batch.shape[0]).Select(i => values.ApplyToUnitTensor(batch[i])).ToArray());
    }

    public (Tensor Images, Tensor Targets) Batch(IReadOnlyList<int> indices)
    {
        var images = new Tensor[indices.Count];
        Parallel.For(0, indices.Count, k =>
        {
            int i = indices[k];
            if (_cacheImages && _cache.TryGetValue(i, out var cached)) { images[k] = cached.alias(); return; }
            var item = _dataset.Items[i];
            var img = _geometry.Apply(ImageDecoder.Decode(item.Path)).DetachFromDisposeScope();
            if (_cacheImages && _cache.TryAdd(i, img)) images[k] = img.alias();
            else images[k] = img;
        });
        var sources = indices.Select(i => _dataset.Items[i].Path).ToList();
        var batch = ImagePreprocessor.Stack(images, sources);
        foreach (var t in images) t.Dispose(); // aliases of cached images, or uncached ones already stacked
        var targets = torch.tensor(indices.Select(i => _targets[i]).ToArray(), dtype: ScalarType.Float64);
        return (batch, targets);
    }

    public void Dispose()
    {
        _geometry.Dispose();
        foreach (var t in _cache.Values) t.Dispose();
        _cache.Clear();
    }
}
