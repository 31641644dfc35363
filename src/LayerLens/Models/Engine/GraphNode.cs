using TorchSharp;
using static TorchSharp.torch;

namespace LayerLens.Models.Engine;

/// <summary>
/// A compiled operator. It receives the node's inputs in declaration order (null for an omitted optional
/// input) and returns one tensor per declared output. It must not dispose or modify its inputs in place.
/// </summary>
public delegate Tensor[] Kernel(Tensor?[] inputs);

/// <summary>One operator of a model graph, with its kernel already chosen and its attributes bound.</summary>
public sealed class GraphNode
{
    public GraphNode(string name, string opType, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs, Kernel kernel)
    {
        Name = name;
        OpType = opType;
        Inputs = inputs.ToArray();
        Outputs = outputs.ToArray();
        Kernel = kernel;
    }

    public string Name { get; }
    public string OpType { get; }
    /// <summary>Value names read by the node; an empty string is an omitted optional input.</summary>
    public string[] Inputs { get; }
    /// <summary>Value names written; an empty string is an output the model does not use.</summary>
    public string[] Outputs { get; }
    public Kernel Kernel { get; }
    /// <summary>False for nodes that must not be evaluated at load time (random generators).</summary>
    public bool Foldable { get; init; } = true;
    /// <summary>Text for error messages, e.g. "node 'conv1' (Conv, opset 13)".</summary>
    public string Describe { get; init; } = "";

    public override string ToString() => Describe.Length > 0 ? Describe : $"node '{Name}' ({OpType})";
}
