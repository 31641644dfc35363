using Google.Protobuf;
using LayerLens.Models.Onnx.Proto;

namespace LayerLens.Tests.Engine;

/// <summary>Writes small ONNX models for tests with the project's own protobuf classes.</summary>
public sealed class OnnxModelBuilder
{
    readonly ModelProto _model;

    public OnnxModelBuilder(int opset = 13)
    {
        _model = new ModelProto { IrVersion = 8, ProducerName = "layerlens-tests", Graph = new GraphProto { Name = "test" } };
        _model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
    }

    public GraphProto Graph => _model.Graph;

    public OnnxModelBuilder Metadata(string key, string value)
    {
        _model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return this;
    }

    public OnnxModelBuilder Input(string name, params long[] dims) { Graph.Input.Add(ValueInfo(name, dims)); return this; }
    public OnnxModelBuilder Output(string name, params long[] dims) { Graph.Output.Add(ValueInfo(name, dims)); return this; }

    public OnnxModelBuilder Node(string op, string[] inputs, string[] outputs, string? name = null, params AttributeProto[] attrs)
    {
        var n = new NodeProto { OpType = op, Name = name ?? outputs[0] };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        n.Attribute.AddRange(attrs);
        Graph.Node.Add(n);
        return this;
    }

    public OnnxModelBuilder Initializer(string name, long[] dims, float[] values)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        t.Dims.AddRange(dims);
        t.FloatData.AddRange(values);
        Graph.Initializer.Add(t);
        return this;
    }

    public OnnxModelBuilder Int64Initializer(string name, long[] dims, long[] values)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        t.Dims.AddRange(dims);
        t.Int64Data.AddRange(values);
        Graph.Initializer.Add(t);
        return this;
    }

    public OnnxModelBuilder ExternalInitializer(string name, long[] dims, string location)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float, DataLocation = TensorProto.Types.DataLocation.External };
        t.Dims.AddRange(dims);
        t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        Graph.Initializer.Add(t);
        return this;
    }

    public static AttributeProto Ints(string name, params long[] v)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(v);
        return a;
    }

    public static AttributeProto Int(string name, long v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v };

    public string Save(string path)
    {
        File.WriteAllBytes(path, _model.ToByteArray());
        return path;
    }

    static ValueInfoProto ValueInfo(string name, long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d < 0 ? new TensorShapeProto.Types.Dimension { DimParam = "N" } : new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }
}
