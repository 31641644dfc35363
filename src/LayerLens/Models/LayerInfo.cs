namespace LayerLens.Models;

/// <summary>
/// One tappable layer: a node output of the model graph.
/// </summary>
/// <param name="Name">Stable name: the graph's own name for the value (the ONNX output name).</param>
/// <param name="OpType">Operator that produces it (Conv, Relu, ...).</param>
/// <param name="NodeName">Name of the producing node (may be empty in the file).</param>
/// <param name="Index">Position in execution order, 0-based.</param>
/// <param name="DepthIndex">Longest path, in nodes, from a graph input to this layer.</param>
/// <param name="RelativeDepth">DepthIndex divided by the longest input-to-output path (0..1).</param>
/// <param name="ParameterCount">Number of trained values (weights, biases, statistics) the node reads.</param>
public sealed record LayerInfo(
    string Name,
    string OpType,
    string NodeName,
    int Index,
    int DepthIndex,
    double RelativeDepth,
    long ParameterCount)
{
    /// <summary>Output shape for the input size last given to <see cref="Engine.ModelGraph.InferShapes"/>, batch first.</summary>
    public long[]? OutputShape { get; init; }
}

/// <summary>A graph input as the model declares it; -1 marks a symbolic or unknown dimension.</summary>
public sealed record GraphInputInfo(string Name, long[] Shape, string ElementType, string? SymbolicBatch = null)
{
    public override string ToString() => $"{Name} [{string.Join(",", Shape.Select(d => d < 0 ? "?" : d.ToString()))}] {ElementType}";
}
