using System.Text.Json;
using Google.Protobuf;
using LayerLens.IO;
using LayerLens.Models.Engine;
using LayerLens.Models.Onnx;
using LayerLens.Models.Onnx.Proto;
using TorchSharp;
using static TorchSharp.torch;
using AttrType = LayerLens.Models.Onnx.Proto.AttributeProto.Types.AttributeType;
using DataType = LayerLens.Models.Onnx.Proto.TensorProto.Types.DataType;

namespace LayerLens.Models.TfJs;

/// <summary>
/// Writes a TensorFlow.js graph model, as LayerLens holds it now (fine-tuned weights included), as a self-contained
/// ONNX file (opset 13). Values keep TensorFlow's names and layout (NHWC): every convolution and pool is wrapped in
/// Transpose nodes to and from the NCHW layout ONNX operators use, so any layer of the original can still be read from
/// the file by name. Weights are written as the graph's kernels read them (filters already in OIHW order); with a head,
/// the graph ends in <c>Gemm</c> on the feature layer (spatially averaged first) as <see cref="OnnxExporter"/> does.
/// </summary>
public static class TfJsOnnxEmitter
{
    public const int Opset = 13;

    /// <summary>Saves <paramref name="graph"/> (imported from TensorFlow.js) as ONNX at <paramref name="path"/>, atomically.</summary>
    public static void Save(ModelGraph graph, string path, string? featureLayer = null, Tensor? headWeight = null, Tensor? headBias = null,
        int featureRank = 2, bool probabilities = false)
    {
        var model = Emit(graph, featureLayer, headWeight, headBias, featureRank, probabilities);
        AtomicFile.Write(path, s => model.WriteTo(s));
    }

    /// <summary>The ONNX model of <paramref name="graph"/>, optionally ending in a new linear head (see <see cref="Save"/>).</summary>
    public static ModelProto Emit(ModelGraph graph, string? featureLayer = null, Tensor? headWeight = null, Tensor? headBias = null,
        int featureRank = 2, bool probabilities = false)
    {
        if (graph.Format != "tfjs" || graph.Source is not JsonElement root)
            throw new LayerLensException($"model '{graph.Name}' was not imported from TensorFlow.js, so the TF.js → ONNX emitter cannot write it", ErrorKind.BadInput);
        var e = new Emitter(graph, root);
        e.EmitAll();
        if (featureLayer != null && headWeight is not null && headBias is not null)
            e.AddHead(featureLayer, headWeight, headBias, featureRank, probabilities);
        return e.Model;
    }

    sealed class Emitter
    {
        readonly ModelGraph _graph;
        readonly Dictionary<string, Dictionary<string, JsonElement>> _attrs = new(StringComparer.Ordinal);
        readonly Dictionary<string, (long[] Shape, ScalarType Type)> _probe = new(StringComparer.Ordinal);
        readonly HashSet<string> _written = new(StringComparer.Ordinal);
        readonly Dictionary<string, string> _nchw = new(StringComparer.Ordinal);
        readonly bool _nhwc;
        readonly GraphProto _g;
        int _counter;

        public ModelProto Model { get; }

        public Emitter(ModelGraph graph, JsonElement root)
        {
            _graph = graph;
            _nhwc = !graph.Metadata.TryGetValue("layout", out var layout) || layout != "NCHW";
            if (root.TryGetProperty("modelTopology", out var topo) && topo.TryGetProperty("node", out var nodes))
                foreach (var n in nodes.EnumerateArray())
                {
                    var attrs = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
                    if (n.TryGetProperty("attr", out var a))
                        foreach (var p in a.EnumerateObject()) attrs[p.Name] = p.Value;
                    _attrs[n.GetProperty("name").GetString() ?? ""] = attrs;
                }
            _g = new GraphProto { Name = graph.Name };
            Model = new ModelProto { IrVersion = 8, ProducerName = "LayerLens", Graph = _g };
            Model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
            Model.MetadataProps.Add(new StringStringEntryProto { Key = "layout", Value = _nhwc ? "NHWC" : "NCHW" });
            Model.MetadataProps.Add(new StringStringEntryProto { Key = "source", Value = $"TensorFlow.js graph model '{graph.Name}', written by LayerLens" });
            Probe();
        }

        /// <summary>Shapes and element types of every value for one zero batch at the declared (or a 224×224) size.</summary>
        void Probe()
        {
            using var scope = torch.NewDisposeScope();
            var first = _graph.Inputs.FirstOrDefault(i => i.Shape.Length == 4);
            long h = 224, w = 224;
            if (first != null)
            {
                var (dh, dw) = _nhwc ? (first.Shape[1], first.Shape[2]) : (first.Shape[2], first.Shape[3]);
                if (dh > 0) h = dh;
                if (dw > 0) w = dw;
            }
            var shapes = _graph.InputShapesFor((int)h, (int)w);
            var feeds = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var inp in _graph.Inputs)
            {
                var type = ElementTypes.ToScalarType(inp.ElementType);
                feeds[inp.Name] = torch.zeros(shapes[inp.Name], dtype: type, device: _graph.Device.ToTorch());
                _probe[inp.Name] = (shapes[inp.Name], type);
            }
            using var r = _graph.Run(feeds, new RunOptions
            {
                Taps = _graph.Layers.Select(l => l.Name).ToList(),
                KeepTaps = false,
                CheckFinite = false,
                OnTap = (layer, t) => _probe[layer.Name] = (t.shape.ToArray(), t.dtype),
            });
        }

        long[] ShapeOf(string value, GraphNode node)
        {
            if (_graph.Constants.TryGetValue(value, out var c)) return c.shape;
            if (_probe.TryGetValue(value, out var p)) return p.Shape;
            throw Unsupported(node, $"the shape of '{value}' is unknown");
        }

        ScalarType TypeOf(string value)
        {
            if (_graph.Constants.TryGetValue(value, out var c)) return c.dtype;
            return _probe.TryGetValue(value, out var p) ? p.Type : ScalarType.Int32;
        }

        static LayerLensException Unsupported(GraphNode node, string what) =>
            new($"cannot write {node} as ONNX: {what}", ErrorKind.BadInput);

        // ---------------------------------------------------------------- building blocks

        string Fresh(string baseName, string what) => $"{baseName}/onnx_{what}_{_counter++}";

        /// <summary>A value as an ONNX input name; constants become initializers on first use.</summary>
        string V(string name)
        {
            if (_graph.Constants.TryGetValue(name, out var c) && _written.Add(name))
                _g.Initializer.Add(OnnxTensors.FromTensor(c, name));
            return name;
        }

        string Init(string name, Tensor value)
        {
            if (_written.Add(name)) _g.Initializer.Add(OnnxTensors.FromTensor(value, name));
            return name;
        }

        string Int64s(string name, long[] values)
        {
            using var t = torch.tensor(values, dtype: ScalarType.Int64);
            return Init(name, t);
        }

        string Scalar(double value, ScalarType type)
        {
            using var t = torch.tensor(value, dtype: ScalarType.Float64).to_type(type);
            return Init($"layerlens/scalar_{type}_{value.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}", t);
        }

        long[] ConstLongs(string value, GraphNode node) =>
            _graph.Constants.TryGetValue(value, out var c) ? ElementTypes.ToLongs(c)
                : throw Unsupported(node, $"input '{value}' must be a constant");

        /// <summary>An int64 version of an integer input (ONNX wants int64 shapes, axes and pads; TensorFlow.js uses int32).</summary>
        string AsInt64(string value)
        {
            if (_graph.Constants.TryGetValue(value, out var c))
            {
                if (c.dtype == ScalarType.Int64) return V(value);
                using var l = c.to_type(ScalarType.Int64);
                return Init(value + "/int64", l);
            }
            if (TypeOf(value) == ScalarType.Int64) return value;
            var output = value + "/int64";
            if (_written.Add(output)) Node("Cast", new[] { value }, output, ("to", (long)DataType.Int64));
            return output;
        }

        NodeProto Node(string op, IEnumerable<string> inputs, string output, params (string Name, object Value)[] attrs) =>
            Node(op, inputs, new[] { output }, attrs);

        NodeProto Node(string op, IEnumerable<string> inputs, string[] outputs, params (string Name, object Value)[] attrs)
        {
            var n = new NodeProto { OpType = op, Name = outputs[0] };
            n.Input.AddRange(inputs);
            n.Output.AddRange(outputs);
            foreach (var (name, value) in attrs)
            {
                var a = new AttributeProto { Name = name };
                switch (value)
                {
                    case long i: a.Type = AttrType.Int; a.I = i; break;
                    case int i: a.Type = AttrType.Int; a.I = i; break;
                    case float f: a.Type = AttrType.Float; a.F = f; break;
                    case double d: a.Type = AttrType.Float; a.F = (float)d; break;
                    case string s: a.Type = AttrType.String; a.S = ByteString.CopyFromUtf8(s); break;
                    case long[] ints: a.Type = AttrType.Ints; a.Ints.AddRange(ints); break;
                    default: throw new LayerLensException($"attribute '{name}' of type {value.GetType().Name} cannot be written", ErrorKind.Internal);
                }
                n.Attribute.Add(a);
            }
            _g.Node.Add(n);
            return n;
        }

        /// <summary>An NHWC 4-D value as NCHW (one Transpose per value, shared by its readers).</summary>
        string ToNchw(string value)
        {
            if (_nchw.TryGetValue(value, out var t)) return t;
            t = value + "/onnx_nchw";
            Node("Transpose", new[] { V(value) }, t, ("perm", new long[] { 0, 3, 1, 2 }));
            return _nchw[value] = t;
        }

        // ---------------------------------------------------------------- the graph

        public void EmitAll()
        {
            foreach (var inp in _graph.Inputs)
            {
                var shape = new TensorShapeProto();
                for (int d = 0; d < inp.Shape.Length; d++)
                    shape.Dim.Add(inp.Shape[d] > 0
                        ? new TensorShapeProto.Types.Dimension { DimValue = inp.Shape[d] }
                        : new TensorShapeProto.Types.Dimension { DimParam = d == 0 ? "batch" : $"{inp.Name}_d{d}" });
                _g.Input.Add(ValueInfo(inp.Name, ElementTypes.ToScalarType(inp.ElementType), shape));
            }
            foreach (var node in _graph.Nodes) EmitNode(node);
            foreach (var o in _graph.OutputNames)
            {
                var name = o;
                if (_graph.Constants.ContainsKey(o) || _graph.Inputs.Any(i => i.Name == o))
                {
                    // An ONNX graph output must be produced by a node.
                    name = o + "/onnx_output";
                    Node("Identity", new[] { V(o) }, name);
                }
                _g.Output.Add(ValueInfo(name, TypeOf(o), null));
            }
        }

        static ValueInfoProto ValueInfo(string name, ScalarType type, TensorShapeProto? shape)
        {
            var tt = new TypeProto.Types.Tensor { ElemType = (int)OnnxTensors.ToDataType(type) };
            if (shape != null) tt.Shape = shape;
            return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tt } };
        }

        void EmitNode(GraphNode n)
        {
            var attrs = _attrs.GetValueOrDefault(n.Name) ?? new Dictionary<string, JsonElement>();
            var ctx = new TfJsNodeContext(n.Name, n.OpType, n.Inputs.Length, attrs);
            var x = n.Inputs;
            var y = n.Outputs[0];
            string In(int i) => i < x.Length && x[i].Length > 0 ? V(x[i]) : throw Unsupported(n, $"input {i} is missing");
            switch (n.OpType)
            {
                case "TfLayout":
                    EmitLayout(n);
                    return;
                case "Conv2D" or "_FusedConv2D" or "DepthwiseConv2dNative" or "DepthwiseConv2D" or "FusedDepthwiseConv2dNative":
                    EmitConv(n, ctx, depthwise: n.OpType.Contains("Depthwise"), fused: n.OpType.StartsWith("Fused") || n.OpType.StartsWith('_'));
                    return;
                case "MaxPool" or "AvgPool":
                    EmitPool(n, ctx);
                    return;
                case "MatMul" or "_FusedMatMul" or "BatchMatMul" or "BatchMatMulV2":
                    EmitMatMul(n, ctx);
                    return;
                case "Mean" or "Sum" or "Max" or "Min" or "Prod":
                    EmitReduction(n, ctx);
                    return;
            }
            if (Binary.TryGetValue(n.OpType, out var bop))
            {
                if (x.Length != 2) throw Unsupported(n, $"expects 2 inputs, has {x.Length}");
                Node(bop, new[] { In(0), In(1) }, y);
                return;
            }
            if (Unary.TryGetValue(n.OpType, out var uop))
            {
                Node(uop, new[] { In(0) }, y);
                return;
            }
            switch (n.OpType)
            {
                case "Identity" or "StopGradient":
                    Node("Identity", new[] { In(0) }, y);
                    break;
                case "AddN":
                    Node("Sum", x.Select(V), y);
                    break;
                case "Relu6":
                    Activation(n, "Relu6", In(0), y, null, channelsDim1: false);
                    break;
                case "Elu" or "Selu" or "Softplus":
                    Node(n.OpType, new[] { In(0) }, y);
                    break;
                case "LeakyRelu":
                    Node("LeakyRelu", new[] { In(0) }, y, ("alpha", ctx.Float("alpha", 0.2f)));
                    break;
                case "Prelu":
                    Node("PRelu", new[] { In(0), In(1) }, y);
                    break;
                case "Rsqrt":
                {
                    var s = Fresh(y, "sqrt");
                    Node("Sqrt", new[] { In(0) }, s);
                    Node("Reciprocal", new[] { s }, y);
                    break;
                }
                case "Square":
                    Node("Mul", new[] { In(0), In(0) }, y);
                    break;
                case "SquaredDifference":
                {
                    var d = Fresh(y, "diff");
                    Node("Sub", new[] { In(0), In(1) }, d);
                    Node("Mul", new[] { d, d }, y);
                    break;
                }
                case "Softmax" or "LogSoftmax":
                    Node(n.OpType, new[] { In(0) }, y, ("axis", -1L));
                    break;
                case "Cast":
                {
                    var to = TfJsImporter.ScalarTypeOf(ctx.TypeName("DstT") ?? "DT_FLOAT", n.Describe);
                    ctx.Ignore("Truncate", "SrcT");
                    Node("Cast", new[] { In(0) }, y, ("to", (long)OnnxTensors.ToDataType(to)));
                    break;
                }
                case "Select" or "SelectV2":
                    Node("Where", new[] { In(0), In(1), In(2) }, y);
                    break;
                case "ConcatV2":
                {
                    int k = x.Length - 1;
                    long axis = ConstLongs(x[k], n)[0];
                    if (axis < 0) axis += ShapeOf(x[0], n).Length;
                    Node("Concat", x.Take(k).Select(V), y, ("axis", axis));
                    break;
                }
                case "Pack":
                {
                    long axis = ctx.Int("axis", 0);
                    if (axis < 0) axis += ShapeOf(x[0], n).Length + 1;
                    var axes = Int64s($"layerlens/axes_{axis}", new[] { axis });
                    var parts = x.Select((v, i) => { var u = Fresh(y, $"unsqueeze{i}"); Node("Unsqueeze", new[] { V(v), axes }, u); return u; }).ToList();
                    Node("Concat", parts, y, ("axis", axis));
                    break;
                }
                case "Reshape":
                    Node("Reshape", new[] { In(0), AsInt64(x[1]) }, y);
                    break;
                case "Squeeze":
                {
                    var dims = ctx.Ints("squeeze_dims") ?? ctx.Ints("axis") ?? Array.Empty<long>();
                    var shape = ShapeOf(x[0], n);
                    if (dims.Length == 0) dims = Enumerable.Range(0, shape.Length).Where(i => shape[i] == 1).Select(i => (long)i).ToArray();
                    dims = dims.Select(d => d < 0 ? d + shape.Length : d).ToArray();
                    Node("Squeeze", new[] { In(0), Int64s(Fresh(y, "axes"), dims) }, y);
                    break;
                }
                case "ExpandDims":
                {
                    long d = ConstLongs(x[1], n)[0];
                    if (d < 0) d += ShapeOf(x[0], n).Length + 1;
                    Node("Unsqueeze", new[] { In(0), Int64s(Fresh(y, "axes"), new[] { d }) }, y);
                    break;
                }
                case "Transpose":
                    Node("Transpose", new[] { In(0) }, y, ("perm", ConstLongs(x[1], n)));
                    break;
                case "Pad" or "PadV2":
                {
                    var p = ConstLongs(x[1], n);
                    int rank = p.Length / 2;
                    var pads = Enumerable.Range(0, rank).Select(d => p[2 * d]).Concat(Enumerable.Range(0, rank).Select(d => p[2 * d + 1])).ToArray();
                    var inputs = new List<string> { In(0), Int64s(Fresh(y, "pads"), pads) };
                    if (n.OpType == "PadV2") inputs.Add(In(2));
                    Node("Pad", inputs, y);
                    break;
                }
                case "Shape":
                {
                    var type = TfJsImporter.ScalarTypeOf(ctx.TypeName("out_type") ?? "DT_INT32", n.Describe);
                    var s = Fresh(y, "shape");
                    Node("Shape", new[] { In(0) }, s);
                    Node("Cast", new[] { s }, y, ("to", (long)OnnxTensors.ToDataType(type)));
                    break;
                }
                default:
                    throw Unsupported(n, $"op '{n.OpType}' has no ONNX translation yet");
            }
        }

        static readonly Dictionary<string, string> Binary = new(StringComparer.Ordinal)
        {
            ["Add"] = "Add", ["AddV2"] = "Add", ["BiasAdd"] = "Add", ["Sub"] = "Sub", ["Mul"] = "Mul", ["RealDiv"] = "Div",
            ["Maximum"] = "Max", ["Minimum"] = "Min", ["Pow"] = "Pow", ["Equal"] = "Equal", ["Greater"] = "Greater",
            ["GreaterEqual"] = "GreaterOrEqual", ["Less"] = "Less", ["LessEqual"] = "LessOrEqual", ["LogicalAnd"] = "And", ["LogicalOr"] = "Or",
        };

        static readonly Dictionary<string, string> Unary = new(StringComparer.Ordinal)
        {
            ["Relu"] = "Relu", ["Sigmoid"] = "Sigmoid", ["Tanh"] = "Tanh", ["Sqrt"] = "Sqrt", ["Exp"] = "Exp", ["Log"] = "Log",
            ["Neg"] = "Neg", ["Abs"] = "Abs", ["Floor"] = "Floor", ["Ceil"] = "Ceil", ["Reciprocal"] = "Reciprocal",
            ["LogicalNot"] = "Not", ["Sign"] = "Sign",
        };

        /// <summary>A filter layout node the engine could not fold (its filter is computed): the same permutation in ONNX.</summary>
        void EmitLayout(GraphNode n)
        {
            var src = n.Inputs[0];
            if (n.Name.EndsWith("/depthwise_oihw", StringComparison.Ordinal))
            {
                var s = ShapeOf(src, n);
                var r = Fresh(n.Outputs[0], "reshape");
                Node("Reshape", new[] { V(src), Int64s(Fresh(n.Outputs[0], "shape"), new[] { s[0], s[1], s[2] * s[3], 1 }) }, r);
                Node("Transpose", new[] { r }, n.Outputs[0], ("perm", new long[] { 2, 3, 0, 1 }));
            }
            else if (n.Name.EndsWith("/oihw", StringComparison.Ordinal))
                Node("Transpose", new[] { V(src) }, n.Outputs[0], ("perm", new long[] { 3, 2, 0, 1 }));
            else
                throw Unsupported(n, "unknown filter layout");
        }

        sealed record Window(long[] Strides, long[] Dilations, string Padding, long[]? Explicit, bool Nchw, long[]? KSize);

        static Window ReadWindow(TfJsNodeContext ctx, GraphNode n, bool pool)
        {
            var format = ctx.String("data_format", "NHWC");
            bool nchw = format == "NCHW";
            long[] Pick(long[]? v) => v == null ? new long[] { 1, 1 } : nchw ? new[] { v[2], v[3] } : new[] { v[1], v[2] };
            var strides = Pick(ctx.Ints("strides"));
            var dilations = pool ? new long[] { 1, 1 } : Pick(ctx.Ints("dilations"));
            var ksize = pool ? Pick(ctx.Ints("ksize")) : null;
            var padding = ctx.String("padding", "VALID");
            long[]? ex = null;
            if (padding == "EXPLICIT")
            {
                var ep = ctx.Ints("explicit_paddings") ?? throw Unsupported(n, "EXPLICIT padding without explicit_paddings");
                ex = nchw ? new[] { ep[4], ep[5], ep[6], ep[7] } : new[] { ep[2], ep[3], ep[4], ep[5] };
            }
            return new Window(strides, dilations, padding, ex, nchw, ksize);
        }

        /// <summary>ONNX padding attributes: TensorFlow's SAME is ONNX's SAME_UPPER (the extra cell after), EXPLICIT maps to pads.</summary>
        static (string Name, object Value) PadAttr(Window w) => w.Padding switch
        {
            "SAME" => ("auto_pad", "SAME_UPPER"),
            "EXPLICIT" => ("pads", new[] { w.Explicit![0], w.Explicit[2], w.Explicit[1], w.Explicit[3] }),
            _ => ("pads", new long[] { 0, 0, 0, 0 }),
        };

        void EmitConv(GraphNode n, TfJsNodeContext ctx, bool depthwise, bool fused)
        {
            var w = ReadWindow(ctx, n, pool: false);
            var x = n.Inputs[0];
            var filter = n.Inputs[1];
            var fs = ShapeOf(filter, n); // OIHW as the kernel reads it
            var xs = ShapeOf(x, n);
            long inChannels = w.Nchw ? xs[1] : xs[3];
            long groups = depthwise ? inChannels : Math.Max(1, inChannels / fs[1]);
            var (ops, alpha) = FusedOps(ctx, n, fused);
            var inputs = new List<string> { w.Nchw ? V(x) : ToNchw(x), V(filter) };
            bool bias = ops.Length > 0;
            if (bias) inputs.Add(V(n.Inputs[2]));
            var y = n.Outputs[0];
            string? act = ops.Length == 2 ? ops[1] : null;
            var convOut = w.Nchw && act == null ? y : Fresh(y, "conv");
            Node("Conv", inputs, convOut, ("kernel_shape", new[] { fs[2], fs[3] }), ("strides", w.Strides), ("dilations", w.Dilations),
                ("group", groups), PadAttr(w));
            var back = convOut;
            if (!w.Nchw)
            {
                back = act == null ? y : Fresh(y, "nhwc");
                Node("Transpose", new[] { convOut }, back, ("perm", new long[] { 0, 2, 3, 1 }));
            }
            if (act != null)
                Activation(n, act, back, y, act == "Prelu" ? V(n.Inputs[3]) : null, channelsDim1: w.Nchw, alpha);
        }

        static (string[] Ops, float Alpha) FusedOps(TfJsNodeContext ctx, GraphNode n, bool fused)
        {
            if (!fused) return (Array.Empty<string>(), 0);
            var ops = ctx.Strings("fused_ops") ?? Array.Empty<string>();
            float alpha = ctx.Float("leakyrelu_alpha", 0.2f);
            if (ops.Length > 0 && ops[0] != "BiasAdd") throw Unsupported(n, $"fused op '{ops[0]}'");
            if (ops.Length > 2) throw Unsupported(n, $"fused ops {string.Join("+", ops)}");
            return (ops, alpha);
        }

        /// <summary>An activation of a fused op, written as ONNX nodes from <paramref name="input"/> to <paramref name="output"/>.</summary>
        void Activation(GraphNode n, string act, string input, string output, string? preluAlpha, bool channelsDim1, float alpha = 0.2f)
        {
            switch (act)
            {
                case "Relu": Node("Relu", new[] { input }, output); break;
                case "Relu6":
                {
                    var t = TypeOf(n.Inputs[0]);
                    Node("Clip", new[] { input, Scalar(0, t), Scalar(6, t) }, output);
                    break;
                }
                case "LeakyRelu": Node("LeakyRelu", new[] { input }, output, ("alpha", alpha)); break;
                case "Elu": Node("Elu", new[] { input }, output, ("alpha", 1.0f)); break;
                case "Sigmoid": Node("Sigmoid", new[] { input }, output); break;
                case "Tanh": Node("Tanh", new[] { input }, output); break;
                case "Prelu":
                {
                    var a = preluAlpha!;
                    if (channelsDim1)
                    {
                        var r = Fresh(output, "alpha");
                        Node("Reshape", new[] { a, Int64s("layerlens/shape_1_-1_1_1", new long[] { 1, -1, 1, 1 }) }, r);
                        a = r;
                    }
                    Node("PRelu", new[] { input, a }, output);
                    break;
                }
                default: throw Unsupported(n, $"fused activation '{act}'");
            }
        }

        void EmitPool(GraphNode n, TfJsNodeContext ctx)
        {
            var w = ReadWindow(ctx, n, pool: true);
            var x = n.Inputs[0];
            var y = n.Outputs[0];
            var poolOut = w.Nchw ? y : Fresh(y, "pool");
            var attrs = new List<(string, object)> { ("kernel_shape", w.KSize!), ("strides", w.Strides), PadAttr(w) };
            // TensorFlow's average pool divides by the cells inside the image only.
            if (n.OpType == "AvgPool") attrs.Add(("count_include_pad", 0L));
            Node(n.OpType == "MaxPool" ? "MaxPool" : "AveragePool", new[] { w.Nchw ? V(x) : ToNchw(x) }, poolOut, attrs.ToArray());
            if (!w.Nchw) Node("Transpose", new[] { poolOut }, y, ("perm", new long[] { 0, 2, 3, 1 }));
        }

        void EmitMatMul(GraphNode n, TfJsNodeContext ctx)
        {
            bool batch = n.OpType.StartsWith("Batch", StringComparison.Ordinal);
            bool ta = ctx.Bool(batch ? "adj_x" : "transpose_a", false);
            bool tb = ctx.Bool(batch ? "adj_y" : "transpose_b", false);
            var (ops, alpha) = FusedOps(ctx, n, n.OpType == "_FusedMatMul");
            var y = n.Outputs[0];
            string T(int i, bool transpose)
            {
                var v = V(n.Inputs[i]);
                if (!transpose) return v;
                int rank = ShapeOf(n.Inputs[i], n).Length;
                var perm = Enumerable.Range(0, rank).Select(d => (long)d).ToArray();
                (perm[rank - 2], perm[rank - 1]) = (perm[rank - 1], perm[rank - 2]);
                var t = Fresh(y, $"t{i}");
                Node("Transpose", new[] { v }, t, ("perm", perm));
                return t;
            }
            var a = T(0, ta);
            var b = T(1, tb);
            string? act = ops.Length == 2 ? ops[1] : null;
            var mm = ops.Length == 0 ? y : Fresh(y, "matmul");
            Node("MatMul", new[] { a, b }, mm);
            if (ops.Length == 0) return;
            var biased = act == null ? y : Fresh(y, "bias");
            Node("Add", new[] { mm, V(n.Inputs[2]) }, biased);
            if (act != null) Activation(n, act, biased, y, act == "Prelu" ? V(n.Inputs[3]) : null, channelsDim1: false, alpha);
        }

        void EmitReduction(GraphNode n, TfJsNodeContext ctx)
        {
            bool keep = ctx.Bool("keep_dims", false);
            var x = n.Inputs[0];
            int rank = ShapeOf(x, n).Length;
            var axes = ConstLongs(n.Inputs[1], n).Select(a => a < 0 ? a + rank : a).Distinct().ToArray();
            var y = n.Outputs[0];
            if (axes.Length == 0) { Node("Identity", new[] { V(x) }, y); return; }
            var op = "Reduce" + n.OpType;
            if (n.OpType == "Sum") // ReduceSum takes its axes as an input from opset 13
                Node(op, new[] { V(x), Int64s(Fresh(y, "axes"), axes) }, y, ("keepdims", keep ? 1L : 0L));
            else
                Node(op, new[] { V(x) }, y, ("axes", axes), ("keepdims", keep ? 1L : 0L));
        }

        // ---------------------------------------------------------------- the new head

        public void AddHead(string featureLayer, Tensor weight, Tensor bias, int featureRank, bool probabilities)
        {
            var features = V(featureLayer);
            if (featureRank > 2)
            {
                // The fine-tuner averages feature maps over space: NHWC dims 1..rank-2, NCHW dims 2..rank-1.
                var axes = _nhwc ? Enumerable.Range(1, featureRank - 2) : Enumerable.Range(2, featureRank - 2);
                Node("ReduceMean", new[] { features }, "layerlens_head_features", ("axes", axes.Select(a => (long)a).ToArray()), ("keepdims", 0L));
                features = "layerlens_head_features";
            }
            OnnxExporter.AppendHead(_g, features, weight, bias, probabilities);
        }
    }
}
