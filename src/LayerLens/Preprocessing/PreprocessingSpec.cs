using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LayerLens.Preprocessing;

/// <summary>How pixels are resampled when resizing.</summary>
public enum Interpolation { Bilinear, Bicubic, Nearest }

/// <summary>The numeric range pixel values are mapped to before normalisation.</summary>
public enum ValueRange
{
    /// <summary>0..1 (pixel / 255), torchvision's ToTensor.</summary>
    Unit,
    /// <summary>0..255, Caffe.</summary>
    Byte,
    /// <summary>−1..1 (2·pixel/255 − 1), LPIPS and Inception/TF.</summary>
    Signed,
}

/// <summary>Which channels the model expects and in what order.</summary>
public enum ChannelOrder { Rgb, Bgr, Gray }

/// <summary>Memory layout of the batch handed to the model.</summary>
public enum TensorLayout { Nchw, Nhwc }

/// <summary>How an exact HxW resize treats the aspect ratio: stretch to fill, or fit inside and pad (letterbox).</summary>
public enum ResizeFit { Stretch, Letterbox }

/// <summary>Element type of the model input: float32, or whole numbers 0..255 as int32 (TF.js pose models).</summary>
public enum PixelType { Float32, Int32 }

/// <summary>
/// Preprocessing as data: everything between decoded pixels and the model's input tensor, in the
/// order torchvision applies it (ToTensor → Resize → CenterCrop → Normalize), plus the Caffe-style
/// options (BGR, 0..255, mean-image subtraction). Stored next to a model as a sidecar, overridable
/// from the command line, and recorded verbatim in feature stores so that features made with
/// different preprocessing are never mixed.
/// </summary>
public sealed record PreprocessingSpec
{
    /// <summary>Preset this was derived from ("custom" if none).</summary>
    public string Preset { get; init; } = "custom";

    /// <summary>Resize the shorter side to this many pixels, keeping the aspect ratio (torchvision Resize(int)).</summary>
    public int? ResizeShorter { get; init; }

    /// <summary>Resize to exactly (height, width).</summary>
    public (int Height, int Width)? ResizeExact { get; init; }

    public Interpolation Interpolation { get; init; } = Interpolation.Bilinear;

    /// <summary>Low-pass when downsampling, as torchvision's Resize(antialias=True) and PIL do.</summary>
    public bool Antialias { get; init; } = true;

    /// <summary>Center crop to (height, width) after resizing; padded with zeros if the image is smaller.</summary>
    public (int Height, int Width)? CenterCrop { get; init; }

    public ValueRange Range { get; init; } = ValueRange.Unit;

    public ChannelOrder Channels { get; init; } = ChannelOrder.Rgb;

    /// <summary>Per-channel mean in the units of <see cref="Range"/> and in <see cref="Channels"/> order.</summary>
    public float[]? Mean { get; init; }

    /// <summary>Per-channel standard deviation (same units and order as <see cref="Mean"/>).</summary>
    public float[]? Std { get; init; }

    /// <summary>A .npy mean image ([C,H,W] or [H,W,C], units of <see cref="Range"/>, channel order of
    /// <see cref="Channels"/>) subtracted Caffe-style; center-cropped to the output size when larger.</summary>
    public string? MeanImage { get; init; }

    public TensorLayout Layout { get; init; } = TensorLayout.Nchw;

    /// <summary>With an exact resize: stretch (default) or letterbox, i.e. scale to fit inside HxW keeping the aspect
    /// ratio and pad the margins (centred) with <see cref="PadValue"/>, as detectors such as YOLO expect.</summary>
    public ResizeFit Fit { get; init; } = ResizeFit.Stretch;

    /// <summary>Letterbox margin value on the 0..255 pixel scale (before channels, range and normalisation); YOLO uses 114.</summary>
    public float PadValue { get; init; }

    /// <summary>Element type handed to the model; int32 needs range 0-255 and no mean/std (values rounded, 0..255).</summary>
    public PixelType DType { get; init; } = PixelType.Float32;

    /// <summary>The model input's (height, width) when it does not depend on the image (exact resize or crop), else null.</summary>
    public (int Height, int Width)? FixedSize => CenterCrop ?? ResizeExact;

    /// <summary>
    /// Where the preprocessed image sits in the original one, for an original of the given size: input pixel
    /// (x, y) = original (x·ScaleX + PadX, y·ScaleY + PadY). Covers stretching, letterboxing and resize + center crop.
    /// </summary>
    public Zoo.InputPlacement Placement(int height, int width)
    {
        var (rh, rw, padY, padX) = ResizeGeometry(height, width);
        double sx = (double)rw / width, sy = (double)rh / height;
        if (CenterCrop is { } c)
        {
            var (h, w) = Fit == ResizeFit.Letterbox && ResizeExact is { } e ? e : (rh, rw);
            // Same offsets as ImagePreprocessor.CenterCrop: zero padding when smaller, then a centred window.
            int cpW = Math.Max(0, c.Width - w), cpH = Math.Max(0, c.Height - h);
            int pw = w + cpW, ph = h + cpH;
            int top = (int)Math.Round((ph - c.Height) / 2.0), left = (int)Math.Round((pw - c.Width) / 2.0);
            return new Zoo.InputPlacement(sx, sy, padX + cpW / 2 - left, padY + cpH / 2 - top, width, height);
        }
        return new Zoo.InputPlacement(sx, sy, padX, padY, width, height);
    }

    /// <summary>Size of the resized image content and, for a letterbox, the top and left margins.</summary>
    internal (int Height, int Width, int PadTop, int PadLeft) ResizeGeometry(int height, int width)
    {
        if (Fit == ResizeFit.Letterbox && ResizeExact is { } e)
        {
            double s = Math.Min((double)e.Width / width, (double)e.Height / height);
            int nw = Math.Max(1, (int)Math.Round(width * s)), nh = Math.Max(1, (int)Math.Round(height * s));
            return (nh, nw, (e.Height - nh) / 2, (e.Width - nw) / 2);
        }
        var (rh, rw) = ResizedSize(height, width);
        return (rh, rw, 0, 0);
    }

    /// <summary>Output height and width for an input of the given size.</summary>
    public (int Height, int Width) OutputSize(int height, int width)
    {
        var (h, w) = ResizedSize(height, width);
        return CenterCrop ?? (h, w);
    }

    /// <summary>Size after the resize step, with torchvision's rounding (the long side is truncated).</summary>
    public (int Height, int Width) ResizedSize(int height, int width)
    {
        if (ResizeExact is { } e) return e;
        if (ResizeShorter is not { } s) return (height, width);
        if (height <= width) return (s, (int)(s * (long)width / height));
        return ((int)(s * (long)height / width), s);
    }

    /// <summary>Number of channels of the model input.</summary>
    public int ChannelCount => Channels == ChannelOrder.Gray ? 1 : 3;

    /// <summary>Checks internal consistency; throws a usage error naming the offending option.</summary>
    public PreprocessingSpec Validate(string where = "preprocessing")
    {
        if (ResizeShorter is <= 0) throw new LayerLensException($"{where}: resize must be positive", ErrorKind.Usage);
        if (ResizeShorter != null && ResizeExact != null) throw new LayerLensException($"{where}: give resize as one number (shorter side) or HxW, not both", ErrorKind.Usage);
        if (ResizeExact is { } e && (e.Height <= 0 || e.Width <= 0)) throw new LayerLensException($"{where}: resize {e.Height}x{e.Width} must be positive", ErrorKind.Usage);
        if (CenterCrop is { } c && (c.Height <= 0 || c.Width <= 0)) throw new LayerLensException($"{where}: crop {c.Height}x{c.Width} must be positive", ErrorKind.Usage);
        if (Mean != null && Mean.Length != ChannelCount && Mean.Length != 1)
            throw new LayerLensException($"{where}: mean has {Mean.Length} values but the input has {ChannelCount} channel(s)", ErrorKind.Usage);
        if (Std != null && Std.Length != ChannelCount && Std.Length != 1)
            throw new LayerLensException($"{where}: std has {Std.Length} values but the input has {ChannelCount} channel(s)", ErrorKind.Usage);
        if (Std != null && Std.Any(s => !(s > 0) || float.IsInfinity(s))) throw new LayerLensException($"{where}: std values must be positive and finite", ErrorKind.Usage);
        if (Mean != null && Mean.Any(m => !float.IsFinite(m))) throw new LayerLensException($"{where}: mean values must be finite", ErrorKind.Usage);
        if (MeanImage != null && Mean != null) throw new LayerLensException($"{where}: give either mean or mean-image, not both", ErrorKind.Usage);
        if (Fit == ResizeFit.Letterbox && ResizeExact == null) throw new LayerLensException($"{where}: fit letterbox needs an exact resize HxW", ErrorKind.Usage);
        if (!(PadValue >= 0 && PadValue <= 255)) throw new LayerLensException($"{where}: pad {PadValue} must lie in 0..255", ErrorKind.Usage);
        if (DType == PixelType.Int32 && (Range != ValueRange.Byte || Mean != null || Std != null || MeanImage != null))
            throw new LayerLensException($"{where}: dtype int32 needs range 0-255 and no mean, std or mean-image", ErrorKind.Usage);
        return this;
    }

    // ---------------------------------------------------------------- presets

    /// <summary>Names of the built-in presets.</summary>
    public static IReadOnlyList<string> PresetNames => Presets.Keys.ToList();

    static readonly Dictionary<string, PreprocessingSpec> Presets = new(StringComparer.OrdinalIgnoreCase)
    {
        // torchvision's ImageNet classification transforms.
        ["imagenet"] = new()
        {
            Preset = "imagenet", ResizeShorter = 256, CenterCrop = (224, 224),
            Mean = new[] { 0.485f, 0.456f, 0.406f }, Std = new[] { 0.229f, 0.224f, 0.225f },
        },
        // Caffe models (VGG/AlexNet/MemNet/EmoNet ports): BGR, 0..255, channel means of ImageNet in BGR order.
        ["caffe-bgr"] = new()
        {
            Preset = "caffe-bgr", ResizeExact = (256, 256), CenterCrop = (224, 224), Range = ValueRange.Byte,
            Channels = ChannelOrder.Bgr, Mean = new[] { 103.939f, 116.779f, 123.68f },
        },
        // LPIPS: the full image in −1..1, no resizing.
        ["lpips"] = new() { Preset = "lpips", Range = ValueRange.Signed },
        // Inception v3 as trained in TensorFlow: 299×299, −1..1.
        ["inception"] = new() { Preset = "inception", ResizeExact = (299, 299), Range = ValueRange.Signed },
        // OpenAI CLIP's image transform.
        ["clip"] = new()
        {
            Preset = "clip", ResizeShorter = 224, Interpolation = Interpolation.Bicubic, CenterCrop = (224, 224),
            Mean = new[] { 0.48145466f, 0.4578275f, 0.40821073f }, Std = new[] { 0.26862954f, 0.26130258f, 0.27577711f },
        },
        // Pixels as they are, 0..1.
        ["raw"] = new() { Preset = "raw" },
        // NanoDet's training recipe (OpenCV BGR, mean/std on the 0..255 scale), 416x416.
        ["nanodet"] = new()
        {
            // NanoDet's own inference keeps the aspect ratio (letterbox, zero padding); stretching the photos made it
            // see a person rather than the cat in chelsea (0.60 vs cat 0.22).
            Preset = "nanodet", ResizeExact = (416, 416), Fit = ResizeFit.Letterbox, PadValue = 0, Range = ValueRange.Byte, Channels = ChannelOrder.Bgr,
            Mean = new[] { 103.53f, 116.28f, 123.675f }, Std = new[] { 57.375f, 57.12f, 58.395f },
        },
        // YOLOv5/v8 exports: 640x640 letterbox padded with grey 114, RGB 0..1.
        ["yolo"] = new() { Preset = "yolo", ResizeExact = (640, 640), Fit = ResizeFit.Letterbox, PadValue = 114 },
    };

    /// <summary>A built-in preset by name.</summary>
    public static PreprocessingSpec FromPreset(string name) =>
        Presets.TryGetValue(name, out var p)
            ? p
            : throw new LayerLensException($"unknown preprocessing preset '{name}' (known: {string.Join(", ", Presets.Keys)})", ErrorKind.Usage);

    // ---------------------------------------------------------------- options as text

    /// <summary>Option names understood by <c>With</c> (CLI options and sidecar keys).</summary>
    public static readonly IReadOnlyList<string> OptionNames = new[]
    {
        "preset", "resize", "interpolation", "antialias", "crop", "range", "channels", "mean", "std", "mean-image", "layout",
        "fit", "pad", "dtype",
    };

    /// <summary>Returns a copy with one option changed from its text form; "preset" starts over from that preset.</summary>
    public PreprocessingSpec With(string option, string value, string where = "preprocessing")
    {
        string v = value.Trim();
        string key = option.Trim().ToLowerInvariant().Replace('_', '-');
        PreprocessingSpec Changed(PreprocessingSpec p) => p with { Preset = key == "preset" ? p.Preset : "custom" };
        return key switch
        {
            "preset" => v.Equals("custom", StringComparison.OrdinalIgnoreCase) ? this with { Preset = "custom" } : FromPreset(v),
            "resize" => Changed(IsNone(v) ? this with { ResizeShorter = null, ResizeExact = null }
                : v.Contains('x') ? this with { ResizeExact = ParseSize(v, where, key), ResizeShorter = null }
                : this with { ResizeShorter = ParseInt(v, where, key), ResizeExact = null }),
            "interpolation" => Changed(this with { Interpolation = ParseEnum<Interpolation>(v, where, key) }),
            "antialias" => Changed(this with { Antialias = ParseBool(v, where, key) }),
            "crop" => Changed(this with { CenterCrop = IsNone(v) ? null : ParseSize(v, where, key) }),
            "range" => Changed(this with
            {
                Range = v switch
                {
                    "0-1" or "0..1" or "unit" => ValueRange.Unit,
                    "0-255" or "0..255" or "byte" => ValueRange.Byte,
                    "-1-1" or "-1..1" or "signed" => ValueRange.Signed,
                    _ => throw new LayerLensException($"{where}: range '{v}' is not one of 0-1, 0-255, -1-1", ErrorKind.Usage),
                },
            }),
            "channels" => Changed(this with { Channels = ParseEnum<ChannelOrder>(v, where, key) }),
            "mean" => Changed(this with { Mean = IsNone(v) ? null : ParseFloats(v, where, key) }),
            "std" => Changed(this with { Std = IsNone(v) ? null : ParseFloats(v, where, key) }),
            "mean-image" => Changed(this with { MeanImage = IsNone(v) ? null : v }),
            "layout" => Changed(this with { Layout = ParseEnum<TensorLayout>(v, where, key) }),
            "fit" => Changed(this with { Fit = ParseEnum<ResizeFit>(v, where, key) }),
            "pad" => Changed(this with
            {
                PadValue = float.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var pad) && pad >= 0 && pad <= 255
                    ? pad : throw new LayerLensException($"{where}: pad '{v}' is not a pixel value in 0..255", ErrorKind.Usage),
            }),
            "dtype" => Changed(this with { DType = ParseEnum<PixelType>(v, where, key) }),
            _ => throw new LayerLensException($"{where}: unknown preprocessing option '{option}' (known: {string.Join(", ", OptionNames)})", ErrorKind.Usage),
        };
    }

    /// <summary>Applies options in order; "preset" is applied first wherever it appears.</summary>
    public PreprocessingSpec With(IEnumerable<KeyValuePair<string, string>> options, string where = "preprocessing")
    {
        var list = options.ToList();
        var p = this;
        foreach (var kv in list.Where(kv => kv.Key.Equals("preset", StringComparison.OrdinalIgnoreCase))) p = p.With(kv.Key, kv.Value, where);
        foreach (var kv in list.Where(kv => !kv.Key.Equals("preset", StringComparison.OrdinalIgnoreCase))) p = p.With(kv.Key, kv.Value, where);
        return p.Validate(where);
    }

    static bool IsNone(string v) => v.Equals("none", StringComparison.OrdinalIgnoreCase) || v.Length == 0;

    static int ParseInt(string v, string where, string key) =>
        int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) && i > 0
            ? i : throw new LayerLensException($"{where}: {key} '{v}' is not a positive whole number", ErrorKind.Usage);

    static (int, int) ParseSize(string v, string where, string key)
    {
        var parts = v.Split('x');
        if (parts.Length == 1) { int s = ParseInt(parts[0], where, key); return (s, s); }
        if (parts.Length != 2) throw new LayerLensException($"{where}: {key} '{v}' is not N or HxW", ErrorKind.Usage);
        return (ParseInt(parts[0], where, key), ParseInt(parts[1], where, key));
    }

    static float[] ParseFloats(string v, string where, string key) =>
        v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(s =>
            float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) && float.IsFinite(f)
                ? f : throw new LayerLensException($"{where}: {key} value '{s}' is not a number", ErrorKind.Usage)).ToArray();

    static bool ParseBool(string v, string where, string key) => v.ToLowerInvariant() switch
    {
        "true" or "yes" or "on" or "1" => true,
        "false" or "no" or "off" or "0" => false,
        _ => throw new LayerLensException($"{where}: {key} '{v}' is not true or false", ErrorKind.Usage),
    };

    static T ParseEnum<T>(string v, string where, string key) where T : struct, Enum =>
        Enum.TryParse<T>(v.Replace("-", ""), ignoreCase: true, out var e) && Enum.IsDefined(e)
            ? e : throw new LayerLensException($"{where}: {key} '{v}' is not one of {string.Join(", ", Enum.GetNames<T>().Select(n => n.ToLowerInvariant()))}", ErrorKind.Usage);

    // ---------------------------------------------------------------- JSON (sidecar and provenance)

    /// <summary>Canonical JSON, the same text for equal settings: provenance compares it.</summary>
    public string ToJson()
    {
        var o = new JsonObject
        {
            ["preset"] = Preset,
            ["resize"] = ResizeExact is { } e ? $"{e.Height}x{e.Width}" : ResizeShorter?.ToString(CultureInfo.InvariantCulture) ?? "none",
            ["interpolation"] = Interpolation.ToString().ToLowerInvariant(),
            ["antialias"] = Antialias,
            ["crop"] = CenterCrop is { } c ? $"{c.Height}x{c.Width}" : "none",
            ["range"] = Range switch { ValueRange.Unit => "0-1", ValueRange.Byte => "0-255", _ => "-1-1" },
            ["channels"] = Channels.ToString().ToLowerInvariant(),
            ["mean"] = Mean == null ? "none" : string.Join(",", Mean.Select(f => f.ToString("R", CultureInfo.InvariantCulture))),
            ["std"] = Std == null ? "none" : string.Join(",", Std.Select(f => f.ToString("R", CultureInfo.InvariantCulture))),
            ["mean-image"] = MeanImage ?? "none",
            ["layout"] = Layout.ToString().ToLowerInvariant(),
        };
        // Written only when not the default, so that feature stores made before these options existed keep their provenance.
        if (Fit != ResizeFit.Stretch) o["fit"] = Fit.ToString().ToLowerInvariant();
        if (PadValue != 0) o["pad"] = PadValue.ToString("R", CultureInfo.InvariantCulture);
        if (DType != PixelType.Float32) o["dtype"] = DType.ToString().ToLowerInvariant();
        return o.ToJsonString();
    }

    /// <summary>Reads the object form written by <see cref="ToJson"/> (any subset of keys, values as strings, numbers or arrays).</summary>
    public static PreprocessingSpec FromJson(JsonObject obj, string where, PreprocessingSpec? start = null)
    {
        var options = new List<KeyValuePair<string, string>>();
        foreach (var (k, node) in obj)
        {
            string text = node switch
            {
                null => "none",
                JsonArray a => string.Join(",", a.Select(x => x?.ToJsonString() ?? "")),
                JsonValue val when val.TryGetValue<string>(out var s) => s,
                _ => node.ToJsonString(),
            };
            options.Add(new(k, text));
        }
        return (start ?? FromPreset("raw")).With(options, where);
    }

    /// <summary>The sidecar path for a model file: <c>MODEL.layerlens.json</c> beside it (extension dropped or kept).</summary>
    public static string? FindSidecar(string modelPath)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(modelPath))!;
        var candidates = new[]
        {
            Path.Combine(dir, Path.GetFileNameWithoutExtension(modelPath) + ".layerlens.json"),
            Path.Combine(dir, Path.GetFileName(modelPath) + ".layerlens.json"),
        };
        return candidates.FirstOrDefault(File.Exists);
    }

    /// <summary>
    /// Resolves the preprocessing for a model: for <c>zoo:NAME</c> the zoo entry's; otherwise the sidecar's
    /// <c>preprocessing</c> object if there is one, else <paramref name="fallback"/> (default <c>imagenet</c>);
    /// then the command line's options on top (<paramref name="overridesFrom"/> names where they came from in errors).
    /// </summary>
    public static PreprocessingSpec Resolve(string? modelPath, IEnumerable<KeyValuePair<string, string>>? overrides = null, PreprocessingSpec? fallback = null,
        string overridesFrom = "command line")
    {
        bool zoo = modelPath != null && modelPath.StartsWith("zoo:", StringComparison.Ordinal);
        var p = zoo ? Zoo.ModelZoo.Default().Get(modelPath!["zoo:".Length..]).Preprocessing : fallback ?? FromPreset("imagenet");
        var sidecar = modelPath == null || zoo ? null : FindSidecar(modelPath);
        if (sidecar != null)
        {
            JsonNode? root;
            try
            {
                root = JsonNode.Parse(File.ReadAllText(sidecar));
            }
            catch (JsonException e)
            {
                throw new LayerLensException($"{sidecar}: not valid JSON (line {e.LineNumber + 1}: {FirstLine(e.Message)})", ErrorKind.BadInput, e);
            }
            if (root is not JsonObject o) throw new LayerLensException($"{sidecar}: expected a JSON object", ErrorKind.BadInput);
            if (o["preprocessing"] is JsonObject pre)
            {
                try
                {
                    p = FromJson(pre, $"{sidecar}: preprocessing", p);
                }
                catch (LayerLensException e)
                {
                    throw new LayerLensException(e.Message, ErrorKind.BadInput, e);
                }
            }
            else if (o.ContainsKey("preprocessing"))
                throw new LayerLensException($"{sidecar}: \"preprocessing\" must be an object", ErrorKind.BadInput);
        }
        return overrides == null ? p.Validate() : p.With(overrides, overridesFrom);
    }

    static string FirstLine(string s) => s.Split('\n')[0];

    public override string ToString() => ToJson();

    // Equal when the pixels reaching the model are computed the same way; the preset's name is only a label.
    string SettingsKey() => (this with { Preset = "" }).ToJson();

    public bool Equals(PreprocessingSpec? other) => other is not null && SettingsKey() == other.SettingsKey();

    public override int GetHashCode() => SettingsKey().GetHashCode(StringComparison.Ordinal);
}
