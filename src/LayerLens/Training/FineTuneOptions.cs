using System.Globalization;

namespace LayerLens.Training;

public enum HeadKind { Regression, Classes }
public enum OptimizerKind { AdamW, Sgd }
public enum ScheduleKind { Constant, Cosine, Step }
public enum LossKind { Mse, Huber, Rank, CrossEntropy }

/// <summary>Which weights fine-tuning changes: only the new head, the last K parameterised layers before the
/// feature layer as well, or every weight up to the feature layer.</summary>
public readonly record struct TrainLayers(string Kind, int K = 0)
{
    public static TrainLayers HeadOnly => new("head");
    public static TrainLayers All => new("all");
    public static TrainLayers Last(int k) => new("last", k);

    public static TrainLayers Parse(string text)
    {
        var t = text.Trim().ToLowerInvariant();
        if (t == "head") return HeadOnly;
        if (t == "all") return All;
        if (t.StartsWith("last:", StringComparison.Ordinal) && int.TryParse(t.AsSpan(5), NumberStyles.Integer, CultureInfo.InvariantCulture, out var k) && k > 0)
            return Last(k);
        throw new LayerLensException($"--train-layers '{text}': expected head, last:K or all", ErrorKind.Usage);
    }

    public override string ToString() => Kind == "last" ? $"last:{K}" : Kind;
}

/// <summary>Seeded augmentation on [0, 1] RGB batches (NCHW), applied before preprocessing.</summary>
public sealed record Augmentation
{
    /// <summary>Random resized crop: fraction of the area kept (lower bound); 1 turns it off.</summary>
    public double CropScaleMin { get; init; } = 1.0;
    public bool HorizontalFlip { get; init; }
    /// <summary>Colour jitter strength for brightness, contrast and saturation (0 turns it off).</summary>
    public double ColorJitter { get; init; }

    public static Augmentation None => new();
    public static Augmentation Standard => new() { CropScaleMin = 0.6, HorizontalFlip = true, ColorJitter = 0.2 };
}

/// <summary>Everything that decides a fine-tuning run; recorded in its outputs.</summary>
public sealed record FineTuneOptions
{
    /// <summary>Layer whose activation feeds the new head; null picks the penultimate layer.</summary>
    public string? FeatureLayer { get; init; }
    public HeadKind Head { get; init; } = HeadKind.Regression;
    public int Classes { get; init; }
    public double Dropout { get; init; }
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.AdamW;
    public double LearningRate { get; init; } = 1e-3;
    /// <summary>Learning rate of the network's own weights relative to the head's (fine-tuning usually wants less).</summary>
    public double BackboneLearningRateScale { get; init; } = 1.0;
    public double WeightDecay { get; init; } = 1e-4;
    public double Momentum { get; init; } = 0.9;
    public ScheduleKind Schedule { get; init; } = ScheduleKind.Cosine;
    public int WarmupEpochs { get; init; }
    public int StepSize { get; init; } = 10;
    public double StepGamma { get; init; } = 0.1;
    /// <summary>Global gradient-norm clip; null for none.</summary>
    public double? ClipNorm { get; init; } = 5.0;
    public TrainLayers TrainLayers { get; init; } = TrainLayers.HeadOnly;
    /// <summary>Update batch-norm running statistics while training (otherwise they stay frozen).</summary>
    public bool UpdateBatchNorm { get; init; }
    public LossKind Loss { get; init; } = LossKind.Mse;
    public double HuberDelta { get; init; } = 1.0;
    public double LabelSmoothing { get; init; }
    /// <summary>Temperature of the soft ranks in the rank loss (in units of the predictions' spread).</summary>
    public double RankTemperature { get; init; } = 0.1;
    public int Epochs { get; init; } = 10;
    public int BatchSize { get; init; } = 32;
    /// <summary>Stop after this many epochs without a better validation score (0: never).</summary>
    public int Patience { get; init; } = 5;
    public long Seed { get; init; }
    public Augmentation Augment { get; init; } = Augmentation.None;
    /// <summary>For tests of resumption: stop (as if killed) after this epoch, keeping the checkpoint.</summary>
    public int? StopAfterEpoch { get; init; }

    public void Validate()
    {
        if (Epochs <= 0) throw new LayerLensException("--epochs must be positive", ErrorKind.Usage);
        if (BatchSize <= 0) throw new LayerLensException("--batch must be positive", ErrorKind.Usage);
        if (LearningRate <= 0) throw new LayerLensException("--lr must be positive", ErrorKind.Usage);
        if (Dropout is < 0 or >= 1) throw new LayerLensException("--dropout must be in [0, 1)", ErrorKind.Usage);
        if (Head == HeadKind.Classes && Classes < 2) throw new LayerLensException("a class head needs at least 2 classes", ErrorKind.Usage);
        if (Head == HeadKind.Classes && Loss != LossKind.CrossEntropy)
            throw new LayerLensException($"loss {Loss} does not fit a class head; use cross-entropy", ErrorKind.Usage);
        if (Head == HeadKind.Regression && Loss == LossKind.CrossEntropy)
            throw new LayerLensException("cross-entropy needs a class head (--head classes)", ErrorKind.Usage);
    }
}
