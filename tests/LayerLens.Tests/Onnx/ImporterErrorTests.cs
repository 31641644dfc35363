using Google.Protobuf;
using LayerLens.Models.Onnx;
using LayerLens.Models.Onnx.Proto;
using LayerLens.Native;
using DataType = LayerLens.Models.Onnx.Proto.TensorProto.Types.DataType;

namespace LayerLens.Tests.Onnx;

/// <summary>Bad ONNX files fail at load with one line that names the problem (and the file, node, op, opset).</summary>
public sealed class ImporterErrorTests : IDisposable
{
    readonly string _dir;

    public ImporterErrorTests()
    {
        TorchRuntime.EnsureLoaded();
        _dir = Path.Combine(Path.GetTempPath(), "layerlens-tests", "importer-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>X (float [1,3]) → node 'n1' of <paramref name="op"/> → Y, plus Y = X + W when a weight is given.</summary>
    static ModelProto TinyModel(string op = "Relu", long opset = 13, TensorProto? weight = null)
    {
        var graph = new GraphProto { Name = "tiny" };
        graph.Input.Add(FloatInfo("X"));
        graph.Output.Add(FloatInfo("Y"));
        var node = new NodeProto { Name = "n1", OpType = op };
        node.Input.Add("X");
        if (weight != null)
        {
            graph.Initializer.Add(weight);
            node.Input.Add(weight.Name);
        }
        node.Output.Add("Y");
        graph.Node.Add(node);
        var model = new ModelProto { IrVersion = 8, ProducerName = "layerlens-tests", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return model;
    }

    static ValueInfoProto FloatInfo(string name)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = 1 });
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = 3 });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float, Shape = shape } },
        };
    }

    string Write(string file, byte[] bytes)
    {
        var path = Path.Combine(_dir, file);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    static LayerLensException LoadFails(string path)
    {
        var e = Assert.Throws<LayerLensException>(() => OnnxImporter.Load(path).Dispose());
        Assert.Equal(ErrorKind.BadInput, e.Kind);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains(Path.GetFileName(path), e.Message);
        return e;
    }

    [Fact]
    public void Tiny_model_loads_and_runs_so_the_failures_below_come_from_the_defect()
    {
        var path = Write("ok.onnx", TinyModel().ToByteArray());
        using var graph = OnnxImporter.Load(path);
        using var x = TorchSharp.torch.tensor(new float[] { -1, 0, 2 }).reshape(1, 3);
        using var run = graph.Run(x);
        Assert.Equal(new float[] { 0, 0, 2 }, run.Outputs["Y"].data<float>().ToArray());
    }

    [Fact]
    public void Truncated_file_is_reported_as_unreadable_and_possibly_truncated()
    {
        var bytes = TinyModel().ToByteArray();
        var path = Write("truncated.onnx", bytes.AsSpan(0, bytes.Length - 5).ToArray());
        var e = LoadFails(path);
        Assert.Contains("not a readable ONNX model", e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void File_that_is_not_onnx_is_reported_as_such()
    {
        var path = Write("notes.onnx", System.Text.Encoding.UTF8.GetBytes("name,value\nalpha,1\nbeta,2\n"));
        var e = LoadFails(path);
        Assert.Contains("not", e.Message);
        Assert.Contains("ONNX model", e.Message);
    }

    [Fact]
    public void Empty_protobuf_without_graph_is_not_an_onnx_model()
    {
        var path = Write("empty.onnx", new ModelProto { ProducerName = "x" }.ToByteArray());
        var e = LoadFails(path);
        Assert.Contains("not an ONNX model", e.Message);
    }

    [Fact]
    public void Unknown_op_fails_at_load_naming_op_node_and_opset()
    {
        var path = Write("unknown-op.onnx", TinyModel(op: "FrobnicateV2").ToByteArray());
        var e = LoadFails(path);
        Assert.Contains("FrobnicateV2", e.Message);
        Assert.Contains("'n1'", e.Message);
        Assert.Contains("opset 13", e.Message);
        Assert.Contains("not implemented", e.Message);
    }

    [Fact]
    public void Unsupported_attribute_fails_at_load_naming_attribute_node_and_opset()
    {
        var model = TinyModel();
        model.Graph.Node[0].Attribute.Add(new AttributeProto { Name = "frobnication", Type = AttributeProto.Types.AttributeType.Int, I = 3 });
        var e = LoadFails(Write("bad-attr.onnx", model.ToByteArray()));
        Assert.Contains("attribute 'frobnication' is not supported", e.Message);
        Assert.Contains("'n1' (Relu, opset 13)", e.Message);
    }

    [Fact]
    public void Missing_external_data_file_is_named()
    {
        var weight = new TensorProto { Name = "W", DataType = (int)DataType.Float, DataLocation = TensorProto.Types.DataLocation.External };
        weight.Dims.Add(1);
        weight.Dims.Add(3);
        weight.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "weights-missing.bin" });
        var path = Write("external.onnx", TinyModel(op: "Add", weight: weight).ToByteArray());
        var e = LoadFails(path);
        Assert.Contains("weights-missing.bin", e.Message);
        Assert.Contains("missing", e.Message);
        Assert.Contains("'W'", e.Message);
    }

    [Theory]
    [InlineData(6)]
    [InlineData(22)]
    public void Opset_outside_7_to_21_is_rejected_with_the_supported_range(long opset)
    {
        var e = LoadFails(Write($"opset{opset}.onnx", TinyModel(opset: opset).ToByteArray()));
        Assert.Contains($"opset {opset} is not supported", e.Message);
        Assert.Contains("7-21", e.Message);
    }
}
