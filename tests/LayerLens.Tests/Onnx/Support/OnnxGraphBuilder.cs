using Google.Protobuf;
using LayerLens.Models.Engine;
using LayerLens.Models.Onnx;
using LayerLens.Models.Onnx.Proto;
using AttrType = LayerLens.Models.Onnx.Proto.AttributeProto.Types.AttributeType;
using DataType = LayerLens.Models.Onnx.Proto.TensorProto.Types.DataType;

namespace LayerLens.Tests.Onnx.Support;

/// <summary>
/// Builds small float64 ONNX graphs in code. Initializer values come from a generator seeded by the
/// initializer's name, so two graphs that share an initializer name share its values.
/// </summary>
public sealed class OnnxGraphBuilder
{
    readonly GraphProto _graph = new() { Name = "test" };
    readonly int _opset;
    int _counter;

    public OnnxGraphBuilder(int opset) => _opset = opset;

    public string Input(string name, long[] shape)
    {
        var shapeProto = new TensorShapeProto();
        foreach (var d in shape) shapeProto.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        _graph.Input.Add(new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Double, Shape = shapeProto } },
        });
        return name;
    }

    /// <summary>A float64 initializer of uniform values in [lo, hi), seeded by <paramref name="name"/>.</summary>
    public string Weight(string name, long[] shape, double lo = -1, double hi = 1)
    {
        var rng = new Random(StableSeed(name));
        long n = shape.Aggregate(1L, (a, b) => a * b);
        return Doubles(name, shape, Enumerable.Range(0, (int)n).Select(_ => lo + (hi - lo) * rng.NextDouble()).ToArray());
    }

    public string Doubles(string name, long[] shape, double[] values)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.Double };
        t.Dims.AddRange(shape);
        t.DoubleData.AddRange(values);
        _graph.Initializer.Add(t);
        return name;
    }

    public string Longs(string name, params long[] values)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.Int64 };
        t.Dims.Add(values.Length);
        t.Int64Data.AddRange(values);
        _graph.Initializer.Add(t);
        return name;
    }

    public string Floats(string name, params float[] values)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.Float };
        t.Dims.Add(values.Length);
        t.FloatData.AddRange(values);
        _graph.Initializer.Add(t);
        return name;
    }

    /// <summary>Adds a node with one output and returns the output's name. Attribute values: long, double,
    /// string, long[], double[].</summary>
    public string Node(string op, string[] inputs, params (string Name, object Value)[] attrs) =>
        NodeMulti(op, inputs, 1, attrs)[0];

    public string[] NodeMulti(string op, string[] inputs, int outputs, params (string Name, object Value)[] attrs)
    {
        int id = _counter++;
        var node = new NodeProto { OpType = op, Name = $"{op}_{id}" };
        node.Input.AddRange(inputs);
        var names = Enumerable.Range(0, outputs).Select(k => $"{op.ToLowerInvariant()}_{id}_{k}").ToArray();
        node.Output.AddRange(names);
        foreach (var (name, value) in attrs) node.Attribute.Add(Attribute(name, value));
        _graph.Node.Add(node);
        return names;
    }

    public void Output(string name) => _graph.Output.Add(new ValueInfoProto { Name = name });

    public ModelProto Model() => new()
    {
        IrVersion = 8,
        ProducerName = "LayerLens.Tests",
        OpsetImport = { new OperatorSetIdProto { Domain = "", Version = _opset } },
        Graph = _graph.Clone(),
    };

    public ModelGraph Build(string name)
    {
        LayerLens.Native.TorchRuntime.EnsureLoaded();
        return OnnxImporter.Build(Model(), name, null, name);
    }

    static AttributeProto Attribute(string name, object value)
    {
        var a = new AttributeProto { Name = name };
        switch (value)
        {
            case int i: a.Type = AttrType.Int; a.I = i; break;
            case long l: a.Type = AttrType.Int; a.I = l; break;
            case double d: a.Type = AttrType.Float; a.F = (float)d; break;
            case float f: a.Type = AttrType.Float; a.F = f; break;
            case string s: a.Type = AttrType.String; a.S = ByteString.CopyFromUtf8(s); break;
            case long[] ls: a.Type = AttrType.Ints; a.Ints.AddRange(ls); break;
            case int[] ins: a.Type = AttrType.Ints; a.Ints.AddRange(ins.Select(v => (long)v)); break;
            case double[] ds: a.Type = AttrType.Floats; a.Floats.AddRange(ds.Select(v => (float)v)); break;
            default: throw new ArgumentException($"attribute {name}: unsupported value type {value.GetType()}");
        }
        return a;
    }

    static int StableSeed(string s)
    {
        unchecked
        {
            int h = 17;
            foreach (char c in s) h = h * 31 + c;
            return h;
        }
    }
}
