using LayerLens.Images;
using LayerLens.Preprocessing;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LayerLens.Zoo;

/// <summary>How a photo is resized into the model's input: stretched to fill it, or scaled to fit with padding.</summary>
public enum ResizeMode { Stretch, Letterbox }

/// <summary>
/// Where the model input sits in the original photo: input pixel (x, y) = original (x·Scale + PadX, y·Scale + PadY).
/// Stretching has separate horizontal and vertical scales.
/// </summary>
public readonly record struct InputPlacement(double ScaleX, double ScaleY, double PadX, double PadY, int OriginalWidth, int OriginalHeight)
{
    public (double X, double Y) ToOriginal(double x, double y) =>
        (Math.Clamp((x - PadX) / ScaleX, 0, OriginalWidth), Math.Clamp((y - PadY) / ScaleY, 0, OriginalHeight));
}

/// <summary>
/// A named input recipe: colour (RGB or grey), value range (pixel/255 then ·Scale + Offset, or raw 0..255 integers),
/// tensor layout and resize mode. Zoo entries refer to presets by name.
/// </summary>
public sealed record PreprocessPreset(string Name, string Description, bool Gray, double Scale, double Offset, bool Nchw, bool Int32Pixels, ResizeMode Resize)
{
    /// <summary>Feed channels as B, G, R (models trained with OpenCV).</summary>
    public bool Bgr { get; init; }
    /// <summary>Per-channel mean and standard deviation on the 0–255 scale, in the fed channel order; replaces Scale/Offset.</summary>
    public double[]? Mean { get; init; }
    public double[]? Std { get; init; }

    public static readonly IReadOnlyList<PreprocessPreset> All = new[]
    {
        new PreprocessPreset("rgb01-nhwc", "RGB / 255, NHWC float32", false, 1, 0, false, false, ResizeMode.Stretch),
        new PreprocessPreset("rgb11-nhwc", "RGB / 255 · 2 − 1, NHWC float32", false, 2, -1, false, false, ResizeMode.Stretch),
        new PreprocessPreset("rgb255-nhwc", "RGB 0–255, NHWC float32", false, 255, 0, false, false, ResizeMode.Stretch),
        new PreprocessPreset("rgb255-int-nhwc", "RGB 0–255, NHWC int32", false, 255, 0, false, true, ResizeMode.Stretch),
        new PreprocessPreset("gray11-nhwc", "grey 0.2989·R + 0.5870·G + 0.1140·B of RGB / 255, · 2 − 1, NHWC float32, 1 channel", true, 2, -1, false, false, ResizeMode.Stretch),
        new PreprocessPreset("rgb01-nchw-letterbox", "RGB / 255, NCHW float32, letterboxed (fit and pad with 0)", false, 1, 0, true, false, ResizeMode.Letterbox),
        new PreprocessPreset("rgb01-nchw", "RGB / 255, NCHW float32 (ImageNet-free, as YOLO exports expect)", false, 1, 0, true, false, ResizeMode.Stretch),
        // NanoDet's own training recipe (OpenCV BGR, mean/std on 0-255); it scores the test photos' objects higher than RGB / 255.
        new PreprocessPreset("nanodet-bgr-nchw", "BGR 0–255 minus mean (103.53, 116.28, 123.675) over std (57.375, 57.12, 58.395), NCHW float32", false, 1, 0, true, false, ResizeMode.Stretch)
        {
            Bgr = true, Mean = new[] { 103.53, 116.28, 123.675 }, Std = new[] { 57.375, 57.12, 58.395 },
        },
        new PreprocessPreset("rgb01-nchw-letterbox-gray114", "RGB / 255, NCHW float32, letterboxed with grey 114/255 as YOLOv5/v8 do", false, 1, 0, true, false, ResizeMode.Letterbox),
    };

    public static PreprocessPreset Get(string name) =>
        All.FirstOrDefault(p => p.Name == name)
        ?? throw new LayerLensException($"unknown preprocessing preset '{name}' (known: {string.Join(", ", All.Select(p => p.Name))})", ErrorKind.BadInput);

    /// <summary>
    /// The same recipe as a <see cref="PreprocessingSpec"/> (exact resize to <paramref name="height"/>×<paramref name="width"/>),
    /// for commands that take dataset preprocessing (fine-tuning, extraction); null when it cannot be expressed
    /// there (letterboxing, int32 pixels, an unusual value scale).
    /// </summary>
    public PreprocessingSpec? ToSpec(int height, int width)
    {
        if (Resize != ResizeMode.Stretch || Int32Pixels) return null;
        var spec = PreprocessingSpec.FromPreset("raw") with
        {
            Preset = "custom", ResizeExact = (height, width), Layout = Nchw ? TensorLayout.Nchw : TensorLayout.Nhwc,
            Channels = Gray ? ChannelOrder.Gray : Bgr ? ChannelOrder.Bgr : ChannelOrder.Rgb,
        };
        if (Mean != null && Std != null)
            return spec with { Range = ValueRange.Byte, Mean = Mean.Select(v => (float)v).ToArray(), Std = Std.Select(v => (float)v).ToArray() };
        return (Scale, Offset) switch
        {
            (1, 0) => spec with { Range = ValueRange.Unit },
            (2, -1) => spec with { Range = ValueRange.Signed },
            (255, 0) => spec with { Range = ValueRange.Byte },
            _ => null,
        };
    }

    /// <summary>The model input [1, H, W, C] or [1, C, H, W] for <paramref name="image"/>, and where it sits in the photo.</summary>
    public (Tensor Input, InputPlacement Placement) Apply(RgbImage image, int height, int width)
    {
        Native.TorchRuntime.EnsureLoaded();
        using var scope = torch.NewDisposeScope();
        using var chw = image.ToChwTensor();
        var x = chw.unsqueeze(0);
        InputPlacement placement;
        if (Resize == ResizeMode.Stretch)
        {
            x = ResizeTo(x, height, width);
            placement = new InputPlacement((double)width / image.Width, (double)height / image.Height, 0, 0, image.Width, image.Height);
        }
        else
        {
            double s = Math.Min((double)width / image.Width, (double)height / image.Height);
            int nw = Math.Max(1, (int)Math.Round(image.Width * s)), nh = Math.Max(1, (int)Math.Round(image.Height * s));
            int padX = (width - nw) / 2, padY = (height - nh) / 2;
            double fill = Name.EndsWith("gray114", StringComparison.Ordinal) ? 114.0 / 255 : 0;
            x = F.pad(ResizeTo(x, nh, nw), new long[] { padX, width - nw - padX, padY, height - nh - padY }, PaddingModes.Constant, fill);
            placement = new InputPlacement((double)nw / image.Width, (double)nh / image.Height, padX, padY, image.Width, image.Height);
        }
        if (Gray)
            x = (x[.., 0..1] * 0.2989 + x[.., 1..2] * 0.5870 + x[.., 2..3] * 0.1140);
        if (Bgr && !Gray) x = x.flip(1);
        if (Mean != null && Std != null)
        {
            var mean = torch.tensor(Mean, dtype: ScalarType.Float32).reshape(1, -1, 1, 1);
            var std = torch.tensor(Std, dtype: ScalarType.Float32).reshape(1, -1, 1, 1);
            x = (x * 255 - mean) / std;
        }
        else x = Int32Pixels ? (x * 255).round().clamp(0, 255).to_type(ScalarType.Int32) : x * Scale + Offset;
        if (!Nchw) x = x.permute(0, 2, 3, 1);
        return (x.contiguous().MoveToOuterDisposeScope(), placement);
    }

    static Tensor ResizeTo(Tensor x, int h, int w) =>
        x.shape[2] == h && x.shape[3] == w ? x
            : F.interpolate(x, new long[] { h, w }, mode: InterpolationMode.Bilinear, align_corners: false, antialias: true).clamp(0, 1);
}
