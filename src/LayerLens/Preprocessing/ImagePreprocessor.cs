using LayerLens.Images;
using LayerLens.IO;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LayerLens.Preprocessing;

/// <summary>
/// Turns decoded images into model input tensors according to a <see cref="PreprocessingSpec"/>.
/// Safe to call from several threads at once (decoding workers run ahead of the model).
/// </summary>
public sealed class ImagePreprocessor : IDisposable
{
    readonly Tensor? _meanImage; // [C, H, W], already in the output units and channel order

    public ImagePreprocessor(PreprocessingSpec settings)
    {
        Native.TorchRuntime.EnsureLoaded();
        Settings = settings.Validate();
        if (settings.MeanImage != null) _meanImage = LoadMeanImage(settings.MeanImage, settings.ChannelCount);
    }

    public PreprocessingSpec Settings { get; }

    /// <summary>One image as float32 (or int32) [C, H, W] (or [H, W, C] for NHWC).</summary>
    public Tensor Apply(RgbImage image)
    {
        using var scope = NewDisposeScope();
        using var chw = image.ToChwTensor();
        return ApplyToUnitTensor(chw, image.Source).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The model input for one image as a batch of one ([1, C, H, W] or [1, H, W, C]) and where the image sits in it,
    /// which detectors use to map boxes back to original pixels.
    /// </summary>
    public (Tensor Input, Zoo.InputPlacement Placement) Prepare(RgbImage image)
    {
        using var scope = NewDisposeScope();
        var x = Apply(image).unsqueeze(0);
        return (x.MoveToOuterDisposeScope(), Settings.Placement(image.Height, image.Width));
    }

    /// <summary>A batch [N, C, H, W] (or [N, H, W, C]); all images must come out the same size.</summary>
    public Tensor Batch(IReadOnlyList<RgbImage> images)
    {
        if (images.Count == 0) throw new ArgumentException("empty batch", nameof(images));
        using var scope = NewDisposeScope();
        var items = images.Select(Apply).ToArray();
        CheckSameSize(items, images.Select(i => i.Source).ToArray());
        return stack(items).MoveToOuterDisposeScope();
    }

    /// <summary>Stacks already preprocessed images, naming the first one whose size differs.</summary>
    public static Tensor Stack(IReadOnlyList<Tensor> items, IReadOnlyList<string> sources)
    {
        CheckSameSize(items, sources);
        return stack(items.ToArray());
    }

    static void CheckSameSize(IReadOnlyList<Tensor> items, IReadOnlyList<string> sources)
    {
        for (int i = 1; i < items.Count; i++)
            if (!items[i].shape.SequenceEqual(items[0].shape))
                throw new LayerLensException(
                    $"{sources[i]}: preprocessed to [{string.Join(",", items[i].shape)}] but {sources[0]} to [{string.Join(",", items[0].shape)}]; " +
                    "give a crop or an exact resize (HxW) so that every image has the same size", ErrorKind.BadInput);
    }

    /// <summary>The pipeline on a [3, H, W] float tensor with values in 0..1.</summary>
    public Tensor ApplyToUnitTensor(Tensor chw, string source = "image")
    {
        var s = Settings;
        using var scope = NewDisposeScope();
        var x = chw.to(ScalarType.Float32);
        int h = (int)x.shape[1], w = (int)x.shape[2];
        var (rh, rw, padTop, padLeft) = s.ResizeGeometry(h, w);
        x = Resize(x, rh, rw, s.Interpolation, s.Antialias);
        if (s.Fit == ResizeFit.Letterbox && s.ResizeExact is { } box)
            x = F.pad(x, new long[] { padLeft, box.Width - rw - padLeft, padTop, box.Height - rh - padTop }, PaddingModes.Constant, s.PadValue / 255.0);
        if (s.CenterCrop is { } c) x = CenterCrop(x, c.Height, c.Width);
        x = s.Channels switch
        {
            ChannelOrder.Gray => Grayscale(x),
            ChannelOrder.Bgr => x.flip(0),
            _ => x,
        };
        x = s.Range switch
        {
            ValueRange.Byte => x.mul(255f),
            ValueRange.Signed => x.mul(2f).sub(1f),
            _ => x,
        };
        if (s.Mean != null) x = x.sub(tensor(s.Mean).view(-1, 1, 1));
        if (s.Std != null) x = x.div(tensor(s.Std).view(-1, 1, 1));
        if (_meanImage is { } m) x = x.sub(FitMeanImage(m, x, source));
        if (s.DType == PixelType.Int32) x = x.round().clamp(0, 255).to_type(ScalarType.Int32);
        if (s.Layout == TensorLayout.Nhwc) x = x.permute(1, 2, 0);
        return x.contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Resizes [C, H, W] like torchvision's tensor <c>F.resize</c>: align_corners=False, and with
    /// antialias a separable kernel widened by the scale factor when downsampling (libtorch's
    /// <c>_upsample_bilinear2d_aa</c>/<c>_upsample_bicubic2d_aa</c>). An image already at the target
    /// size is returned as it is, as torchvision does.
    /// </summary>
    public static Tensor Resize(Tensor chw, int height, int width, Interpolation mode, bool antialias)
    {
        if (chw.shape[1] == height && chw.shape[2] == width) return chw.alias();
        using var scope = NewDisposeScope();
        var batch = chw.unsqueeze(0);
        var size = new long[] { height, width };
        var r = mode switch
        {
            Interpolation.Nearest => F.interpolate(batch, size, mode: InterpolationMode.Nearest),
            Interpolation.Bicubic => F.interpolate(batch, size, mode: InterpolationMode.Bicubic, align_corners: false, antialias: antialias),
            _ => F.interpolate(batch, size, mode: InterpolationMode.Bilinear, align_corners: false, antialias: antialias),
        };
        return r.squeeze(0).MoveToOuterDisposeScope();
    }

    /// <summary>Center crop like torchvision (offsets rounded half to even; zero padding when the image is smaller).</summary>
    public static Tensor CenterCrop(Tensor chw, int height, int width)
    {
        int h = (int)chw.shape[1], w = (int)chw.shape[2];
        using var scope = NewDisposeScope();
        var x = chw;
        if (height > h || width > w)
        {
            // torchvision pads (left, top) by (diff // 2) and (right, bottom) by (diff + 1) // 2.
            int padW = Math.Max(0, width - w), padH = Math.Max(0, height - h);
            x = F.pad(x, new long[] { padW / 2, (padW + 1) / 2, padH / 2, (padH + 1) / 2 });
            h = (int)x.shape[1];
            w = (int)x.shape[2];
            if (h == height && w == width) return x.MoveToOuterDisposeScope();
        }
        // Python's round() rounds halves to even; so does Math.Round by default.
        int top = (int)Math.Round((h - height) / 2.0), left = (int)Math.Round((w - width) / 2.0);
        return x.narrow(1, top, height).narrow(2, left, width).MoveToOuterDisposeScope();
    }

    /// <summary>torchvision's rgb_to_grayscale weights (ITU-R 601-2 luma), one channel out.</summary>
    public static Tensor Grayscale(Tensor chw) =>
        chw[0].mul(0.2989f).add(chw[1].mul(0.587f)).add(chw[2].mul(0.114f)).unsqueeze(0);

    static Tensor FitMeanImage(Tensor mean, Tensor x, string source)
    {
        long h = x.shape[1], w = x.shape[2];
        if (mean.shape[1] == h && mean.shape[2] == w) return mean;
        if (mean.shape[1] < h || mean.shape[2] < w)
            throw new LayerLensException($"{source}: the mean image is {mean.shape[1]}x{mean.shape[2]}, smaller than the preprocessed image {h}x{w}", ErrorKind.BadInput);
        return CenterCrop(mean, (int)h, (int)w);
    }

    static Tensor LoadMeanImage(string path, int channels)
    {
        using var raw = Npy.Read(path);
        Tensor t;
        if (raw.dim() == 3 && raw.shape[0] == channels) t = raw.to(ScalarType.Float32);
        else if (raw.dim() == 3 && raw.shape[2] == channels) t = raw.to(ScalarType.Float32).permute(2, 0, 1).contiguous();
        else throw new LayerLensException($"{path}: a mean image must be [{channels},H,W] or [H,W,{channels}], not [{string.Join(",", raw.shape)}]", ErrorKind.BadInput);
        if (!t.isfinite().all().item<bool>()) throw new LayerLensException($"{path}: the mean image holds NaN or infinite values", ErrorKind.BadInput);
        return t.DetachFromDisposeScope();
    }

    public void Dispose() => _meanImage?.Dispose();
}
