using LayerLens.Classification;
using LayerLens.Images;
using LayerLens.Models.Engine;
using LayerLens.Zoo;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Detection;

/// <summary>A detector: preprocessing, one forward pass, and a head that decodes boxes into original pixels.</summary>
public sealed class ObjectDetector
{
    readonly ModelGraph _graph;

    public ObjectDetector(ModelGraph graph, PreprocessPreset preset, IDetectionHead head, LabelSet labels, int inputHeight, int inputWidth)
    {
        _graph = graph;
        Preset = preset;
        Head = head;
        Labels = labels;
        InputHeight = inputHeight;
        InputWidth = inputWidth;
    }

    public PreprocessPreset Preset { get; }
    public ModelGraph Graph => _graph;
    public IDetectionHead Head { get; }
    public LabelSet Labels { get; }
    public int InputHeight { get; }
    public int InputWidth { get; }

    /// <summary>A detector for a zoo entry whose task is detection.</summary>
    public static ObjectDetector ForZoo(ModelGraph graph, ZooEntry entry) =>
        new(graph, PreprocessPreset.Get(entry.Preprocess),
            DetectionHeads.Get(entry.Head ?? throw new LayerLensException($"zoo model '{entry.Name}' names no detection head", ErrorKind.BadInput)),
            LabelSet.Load(entry.Labels ?? "coco80"), entry.InputSize[0], entry.InputSize[1]);

    /// <summary>The model's input tensor for one image (batch of 1) and where the image sits in it.</summary>
    public (Tensor Input, InputPlacement Placement) Prepare(RgbImage image) => Preset.Apply(image, InputHeight, InputWidth);

    public List<DetectedObject> Detect(RgbImage image, DetectionOptions options)
    {
        using var scope = torch.NewDisposeScope();
        var (input, placement) = Prepare(image);
        using var result = _graph.Run(input);
        return Head.Decode(result.Outputs, placement, InputHeight, InputWidth, Labels, options);
    }
}
