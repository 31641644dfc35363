using LayerLens.Models.Engine;
using LayerLens.Tests.Onnx.Support;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LayerLens.Tests.Onnx;

/// <summary>
/// Autograd through the engine against central finite differences, in float64, on small graphs built in code.
/// Each graph is x → pre (Sin, Exp or ×4, so the tap is an intermediate) → tap → op under test → y, with the
/// loss sum(R·y) for fixed random R. The gradient to x is checked by differencing the whole graph; the
/// gradient to the tapped activation (torch.autograd.grad on the tap) by differencing a second graph that
/// starts at the tap and holds only the op under test, with the same weights.
/// </summary>
public sealed class GradientTests
{
    const double H = 1e-5;
    const double Tolerance = 1e-6; // of the largest finite-difference component; FD error here is ~1e-10
    const int MaxCoordinates = 40;
    readonly ITestOutputHelper _out;

    public GradientTests(ITestOutputHelper output) => _out = output;

    delegate string Tail(OnnxGraphBuilder b, string t);
    sealed record Case(int Opset, long[] Shape, string Pre, Tail Op);

    static (string, object) A(string name, object value) => (name, value);
    static string[] I(params string[] names) => names;

    static readonly Dictionary<string, Case> Cases = new()
    {
        // Convolutions and dense layers.
        ["Conv_asymmetric_pads_strides_bias"] = new(13, new long[] { 1, 2, 6, 6 }, "sin", (b, t) =>
            b.Node("Conv", I(t, b.Weight("W", new long[] { 3, 2, 3, 3 }), b.Weight("B", new long[] { 3 })),
                A("pads", new long[] { 1, 0, 2, 1 }), A("strides", new long[] { 2, 1 }))),
        ["Conv_groups_dilation_same_upper"] = new(13, new long[] { 1, 4, 7, 7 }, "sin", (b, t) =>
            b.Node("Conv", I(t, b.Weight("W", new long[] { 4, 2, 3, 3 })),
                A("group", 2L), A("dilations", new long[] { 2, 2 }), A("auto_pad", "SAME_UPPER"))),
        ["Conv_1d"] = new(13, new long[] { 2, 3, 8 }, "sin", (b, t) =>
            b.Node("Conv", I(t, b.Weight("W", new long[] { 2, 3, 3 })), A("pads", new long[] { 1, 1 }))),
        ["Conv_depthwise"] = new(13, new long[] { 1, 3, 5, 5 }, "sin", (b, t) =>
            b.Node("Conv", I(t, b.Weight("W", new long[] { 3, 1, 3, 3 })), A("group", 3L), A("pads", new long[] { 1, 1, 1, 1 }))),
        ["ConvTranspose_stride_pads_output_padding"] = new(13, new long[] { 1, 2, 4, 4 }, "sin", (b, t) =>
            b.Node("ConvTranspose", I(t, b.Weight("W", new long[] { 2, 3, 3, 3 }), b.Weight("B", new long[] { 3 })),
                A("strides", new long[] { 2, 2 }), A("pads", new long[] { 1, 0, 1, 1 }), A("output_padding", new long[] { 1, 1 }))),
        ["ConvTranspose_groups"] = new(13, new long[] { 1, 4, 3, 3 }, "sin", (b, t) =>
            b.Node("ConvTranspose", I(t, b.Weight("W", new long[] { 4, 1, 2, 2 })), A("group", 2L), A("strides", new long[] { 2, 2 }))),
        ["Gemm_transB_alpha_beta"] = new(13, new long[] { 3, 4 }, "sin", (b, t) =>
            b.Node("Gemm", I(t, b.Weight("W", new long[] { 5, 4 }), b.Weight("C", new long[] { 5 })),
                A("transB", 1L), A("alpha", 0.75), A("beta", 1.5))),
        ["Gemm_transA"] = new(13, new long[] { 4, 3 }, "sin", (b, t) =>
            b.Node("Gemm", I(t, b.Weight("W", new long[] { 4, 2 })), A("transA", 1L))),
        ["MatMul_batched"] = new(13, new long[] { 2, 3, 4 }, "sin", (b, t) => b.Node("MatMul", I(t, b.Weight("W", new long[] { 4, 5 })))),
        ["MatMul_tap_on_both_sides"] = new(13, new long[] { 2, 3, 3 }, "sin", (b, t) =>
            b.Node("MatMul", I(t, b.Node("Transpose", I(t), A("perm", new long[] { 0, 2, 1 }))))),
        ["Einsum_batched_matmul"] = new(13, new long[] { 2, 3, 4 }, "sin", (b, t) =>
            b.Node("Einsum", I(t, b.Weight("W", new long[] { 2, 4, 5 })), A("equation", "bij,bjk->bik"))),
        ["Einsum_channel_contraction"] = new(13, new long[] { 2, 3, 4, 4 }, "sin", (b, t) =>
            b.Node("Einsum", I(t, b.Weight("W", new long[] { 3 })), A("equation", "bchw,c->bhw"))),
        ["Einsum_attention_scores"] = new(13, new long[] { 1, 2, 3, 4 }, "sin", (b, t) =>
            b.Node("Einsum", I(t, t), A("equation", "bhqd,bhkd->bhqk"))),

        // Normalisations.
        ["BatchNormalization"] = new(15, new long[] { 2, 3, 4, 4 }, "sin", (b, t) =>
            b.Node("BatchNormalization", I(t, b.Weight("scale", new long[] { 3 }), b.Weight("bias", new long[] { 3 }),
                b.Weight("mean", new long[] { 3 }), b.Weight("var", new long[] { 3 }, 0.5, 1.5)), A("epsilon", 1e-3))),
        ["LayerNormalization_last_axis"] = new(17, new long[] { 2, 3, 5 }, "sin", (b, t) =>
            b.Node("LayerNormalization", I(t, b.Weight("scale", new long[] { 5 }), b.Weight("bias", new long[] { 5 })))),
        ["LayerNormalization_axis1"] = new(17, new long[] { 2, 3, 4 }, "sin", (b, t) =>
            b.Node("LayerNormalization", I(t, b.Weight("scale", new long[] { 3, 4 })), A("axis", 1L))),
        ["LayerNormalization_broadcast_scale"] = new(17, new long[] { 2, 3, 4 }, "sin", (b, t) =>
            b.Node("LayerNormalization", I(t, b.Weight("scale", new long[] { 4 }), b.Weight("bias", new long[] { 1 })), A("axis", 1L))),
        ["InstanceNormalization"] = new(13, new long[] { 2, 3, 4, 4 }, "sin", (b, t) =>
            b.Node("InstanceNormalization", I(t, b.Weight("scale", new long[] { 3 }), b.Weight("bias", new long[] { 3 })))),
        ["LRN"] = new(13, new long[] { 1, 5, 3, 3 }, "sin", (b, t) =>
            b.Node("LRN", I(t), A("size", 3L), A("alpha", 0.5), A("beta", 0.75), A("bias", 1.0))),

        // Activations (×4 spreads the input over the kinks of the piecewise ones).
        ["Relu"] = Unary("Relu", "scale4"),
        ["LeakyRelu"] = Unary("LeakyRelu", "scale4", A("alpha", 0.1)),
        ["PRelu"] = new(13, new long[] { 2, 3, 4 }, "scale4", (b, t) => b.Node("PRelu", I(t, b.Weight("slope", new long[] { 3, 1 })))),
        ["Elu"] = Unary("Elu", "scale4", A("alpha", 0.7)),
        ["Celu"] = Unary("Celu", "scale4", A("alpha", 1.3)),
        ["Selu"] = Unary("Selu", "scale4"),
        ["ThresholdedRelu"] = Unary("ThresholdedRelu", "scale4", A("alpha", 0.5)),
        ["Sigmoid"] = Unary("Sigmoid", "scale4"),
        ["HardSigmoid"] = Unary("HardSigmoid", "scale4", A("alpha", 0.3), A("beta", 0.4)),
        ["HardSwish"] = Unary("HardSwish", "scale4"),
        ["Tanh"] = Unary("Tanh", "scale4"),
        ["Softplus"] = Unary("Softplus", "scale4"),
        ["Softsign"] = Unary("Softsign", "scale4"),
        ["Mish"] = Unary("Mish", "scale4"),
        ["Erf"] = Unary("Erf", "sin"),
        ["Gelu_exact"] = new(20, new long[] { 2, 3, 4 }, "scale4", (b, t) => b.Node("Gelu", I(t))),
        ["Gelu_tanh"] = new(20, new long[] { 2, 3, 4 }, "scale4", (b, t) => b.Node("Gelu", I(t), A("approximate", "tanh"))),
        ["Clip_inputs"] = new(13, new long[] { 2, 3, 4 }, "scale4", (b, t) =>
            b.Node("Clip", I(t, b.Doubles("lo", Array.Empty<long>(), new[] { -1.5 }), b.Doubles("hi", Array.Empty<long>(), new[] { 2.0 })))),
        ["Clip_attributes_opset7"] = new(7, new long[] { 2, 3, 4 }, "scale4", (b, t) => b.Node("Clip", I(t), A("min", -1.5), A("max", 2.0))),
        ["Exp"] = Unary("Exp", "sin"),
        ["Log"] = Unary("Log", "exp"),
        ["Sqrt"] = Unary("Sqrt", "exp"),
        ["Reciprocal"] = Unary("Reciprocal", "exp"),
        ["Abs"] = Unary("Abs", "sin"),
        ["Neg"] = Unary("Neg", "sin"),
        ["Sin_Cos"] = new(13, new long[] { 2, 3, 4 }, "scale4", (b, t) => b.Node("Cos", I(b.Node("Sin", I(t))))),
        ["Softmax_axis1"] = new(13, new long[] { 2, 3, 4 }, "scale4", (b, t) => b.Node("Softmax", I(t), A("axis", 1L))),
        ["Softmax_opset11_coerced_2d"] = new(11, new long[] { 2, 3, 4 }, "scale4", (b, t) => b.Node("Softmax", I(t), A("axis", 1L))),
        ["LogSoftmax_last_axis"] = new(13, new long[] { 2, 3, 4 }, "scale4", (b, t) => b.Node("LogSoftmax", I(t))),
        ["LogSoftmax_opset11_coerced_2d"] = new(11, new long[] { 2, 3, 4 }, "scale4", (b, t) => b.Node("LogSoftmax", I(t), A("axis", 1L))),

        // Element-wise binary ops, with broadcasting.
        ["Add_Sub_broadcast"] = new(13, new long[] { 2, 3, 4 }, "sin", (b, t) =>
            b.Node("Sub", I(b.Node("Add", I(t, b.Weight("W", new long[] { 3, 1 }))), b.Node("Neg", I(t))))),
        ["Mul_self_and_weight"] = new(13, new long[] { 2, 3, 4 }, "sin", (b, t) =>
            b.Node("Mul", I(b.Node("Mul", I(t, t)), b.Weight("W", new long[] { 4 })))),
        ["Div_both_operands"] = new(13, new long[] { 2, 3, 4 }, "exp", (b, t) =>
            b.Node("Div", I(b.Node("Div", I(t, b.Weight("W", new long[] { 4 }, 0.5, 2))), b.Node("Mul", I(t, t))))),
        ["Pow_base_and_exponent"] = new(13, new long[] { 2, 3, 4 }, "exp", (b, t) =>
            b.Node("Pow", I(t, b.Node("Sin", I(t))))),
        ["Min_Max"] = new(13, new long[] { 2, 3, 4 }, "sin", (b, t) =>
            b.Node("Max", I(b.Node("Min", I(t, b.Weight("W", new long[] { 4 }))), b.Weight("V", new long[] { 3, 1 })))),
        ["Sum_Mean_variadic"] = new(13, new long[] { 2, 3, 4 }, "sin", (b, t) =>
            b.Node("Mean", I(b.Node("Sum", I(t, b.Node("Tanh", I(t)), b.Weight("W", new long[] { 4 }))), t, b.Node("Exp", I(t))))),
        ["Where_Greater"] = new(13, new long[] { 2, 3, 4 }, "sin", (b, t) =>
            b.Node("Where", I(b.Node("Greater", I(t, b.Weight("W", new long[] { 4 }, -0.5, 0.5))), b.Node("Exp", I(t)), b.Node("Mul", I(t, t))))),

        // Pools.
        ["MaxPool_pads_strides"] = new(13, new long[] { 1, 2, 6, 6 }, "sin", (b, t) =>
            b.Node("MaxPool", I(t), A("kernel_shape", new long[] { 3, 3 }), A("strides", new long[] { 2, 2 }), A("pads", new long[] { 1, 1, 1, 1 }))),
        ["MaxPool_ceil_dilations"] = new(13, new long[] { 1, 2, 7, 7 }, "sin", (b, t) =>
            b.Node("MaxPool", I(t), A("kernel_shape", new long[] { 2, 2 }), A("strides", new long[] { 2, 2 }), A("dilations", new long[] { 2, 1 }), A("ceil_mode", 1L))),
        ["AveragePool_pads_exclude"] = new(13, new long[] { 1, 2, 5, 5 }, "sin", (b, t) =>
            b.Node("AveragePool", I(t), A("kernel_shape", new long[] { 3, 3 }), A("strides", new long[] { 2, 2 }), A("pads", new long[] { 1, 1, 1, 1 }))),
        ["AveragePool_pads_include"] = new(13, new long[] { 1, 2, 5, 5 }, "sin", (b, t) =>
            b.Node("AveragePool", I(t), A("kernel_shape", new long[] { 3, 3 }), A("pads", new long[] { 0, 1, 2, 1 }), A("count_include_pad", 1L))),
        ["AveragePool_ceil"] = new(13, new long[] { 1, 2, 6, 6 }, "sin", (b, t) =>
            b.Node("AveragePool", I(t), A("kernel_shape", new long[] { 3, 3 }), A("strides", new long[] { 2, 2 }), A("ceil_mode", 1L))),
        ["GlobalAveragePool"] = new(13, new long[] { 2, 3, 4, 5 }, "sin", (b, t) => b.Node("GlobalAveragePool", I(t))),
        ["GlobalMaxPool"] = new(13, new long[] { 2, 3, 4, 5 }, "sin", (b, t) => b.Node("GlobalMaxPool", I(t))),

        // Resampling.
        ["Resize_linear_half_pixel_scales"] = new(13, new long[] { 1, 2, 3, 4 }, "sin", (b, t) =>
            b.Node("Resize", I(t, "", b.Floats("scales", 1, 1, 2, 1.5f)), A("mode", "linear"))),
        ["Resize_linear_align_corners_sizes"] = new(13, new long[] { 1, 2, 3, 4 }, "sin", (b, t) =>
            b.Node("Resize", I(t, "", "", b.Longs("sizes", 1, 2, 5, 3)), A("mode", "linear"), A("coordinate_transformation_mode", "align_corners"))),
        ["Resize_nearest_asymmetric_floor"] = new(13, new long[] { 1, 2, 3, 4 }, "sin", (b, t) =>
            b.Node("Resize", I(t, "", b.Floats("scales", 1, 1, 2, 2)), A("mode", "nearest"), A("coordinate_transformation_mode", "asymmetric"), A("nearest_mode", "floor"))),
        ["Resize_nearest_downsample_opset11"] = new(11, new long[] { 1, 2, 6, 6 }, "sin", (b, t) =>
            b.Node("Resize", I(t, b.Floats("roi"), b.Floats("scales", 1, 1, 0.5f, 0.5f)), A("mode", "nearest"))),
        ["Resize_cubic"] = new(13, new long[] { 1, 1, 4, 4 }, "sin", (b, t) =>
            b.Node("Resize", I(t, "", b.Floats("scales", 1, 1, 1.5f, 2)), A("mode", "cubic"))),
        ["Upsample_nearest_opset9"] = new(9, new long[] { 1, 2, 3, 3 }, "sin", (b, t) =>
            b.Node("Upsample", I(t, b.Floats("scales", 1, 1, 2, 2)), A("mode", "nearest"))),

        // Tensor plumbing.
        ["Concat_branches"] = new(13, new long[] { 2, 3, 4 }, "sin", (b, t) =>
            b.Node("Concat", I(b.Node("Tanh", I(t)), t, b.Node("Exp", I(t))), A("axis", 1L))),
        ["Split_sizes_input"] = new(13, new long[] { 2, 3, 4 }, "sin", (b, t) =>
        {
            var parts = b.NodeMulti("Split", I(t, b.Longs("split", 1, 2)), 2, A("axis", 1L));
            return b.Node("Mul", I(parts[1], b.Node("Exp", I(parts[0]))));
        }),
        ["Split_equal_opset11"] = new(11, new long[] { 2, 4, 3 }, "sin", (b, t) =>
        {
            var parts = b.NodeMulti("Split", I(t), 2, A("axis", 1L));
            return b.Node("Mul", I(parts[0], b.Node("Exp", I(parts[1]))));
        }),
        ["Slice_steps_negative"] = new(13, new long[] { 2, 5, 6 }, "sin", (b, t) =>
            b.Node("Slice", I(t, b.Longs("starts", 1, 5), b.Longs("ends", 4, 0), b.Longs("axes", 1, 2), b.Longs("steps", 1, -2)))),
        ["Slice_attributes_opset9"] = new(9, new long[] { 2, 5, 6 }, "sin", (b, t) =>
            b.Node("Slice", I(t), A("starts", new long[] { 1, -4 }), A("ends", new long[] { 100, -1 }), A("axes", new long[] { 1, 2 }))),
        ["Gather_repeated_indices"] = new(13, new long[] { 4, 5 }, "sin", (b, t) => b.Node("Gather", I(t, b.Longs("idx", 2, 0, 2, -1)))),
        ["Gather_axis1"] = new(13, new long[] { 2, 4, 3 }, "sin", (b, t) => b.Node("Gather", I(t, b.Longs("idx", 3, 1)), A("axis", 1L))),
        ["Reshape_zero_and_minus_one"] = new(13, new long[] { 2, 3, 4 }, "sin", (b, t) =>
            b.Node("Mul", I(b.Node("Reshape", I(t, b.Longs("shape", 0, -1, 2))), b.Weight("W", new long[] { 6, 2 })))),
        ["Transpose"] = new(13, new long[] { 2, 3, 4 }, "sin", (b, t) =>
            b.Node("Mul", I(b.Node("Transpose", I(t), A("perm", new long[] { 2, 0, 1 })), b.Weight("W", new long[] { 4, 2, 3 })))),
        ["Flatten_Squeeze_Unsqueeze"] = new(13, new long[] { 2, 1, 3, 2 }, "sin", (b, t) =>
            b.Node("Mul", I(b.Node("Unsqueeze", I(b.Node("Flatten", I(b.Node("Squeeze", I(t, b.Longs("sq", 1)))), A("axis", 1L)), b.Longs("us", 0))),
                b.Weight("W", new long[] { 1, 2, 6 })))),
        ["Expand_Tile"] = new(13, new long[] { 2, 1, 3 }, "sin", (b, t) =>
            b.Node("Mul", I(b.Node("Tile", I(b.Node("Expand", I(t, b.Longs("shape", 2, 4, 3))), b.Longs("reps", 1, 1, 2))),
                b.Weight("W", new long[] { 2, 4, 6 })))),
        ["Pad_constant"] = new(13, new long[] { 1, 2, 3, 3 }, "sin", (b, t) =>
            b.Node("Mul", I(b.Node("Pad", I(t, b.Longs("pads", 0, 0, 1, 2, 0, 0, 2, 0), b.Doubles("value", Array.Empty<long>(), new[] { 0.5 }))),
                b.Weight("W", new long[] { 6, 5 })))),
        ["Pad_reflect"] = new(13, new long[] { 1, 2, 4, 4 }, "sin", (b, t) =>
            b.Node("Mul", I(b.Node("Pad", I(t, b.Longs("pads", 0, 0, 2, 1, 0, 0, 1, 2)), A("mode", "reflect")), b.Weight("W", new long[] { 7, 7 })))),
        ["Pad_edge_opset11"] = new(11, new long[] { 1, 2, 3, 3 }, "sin", (b, t) =>
            b.Node("Mul", I(b.Node("Pad", I(t, b.Longs("pads", 0, 0, 1, 1, 0, 0, 2, 2)), A("mode", "edge")), b.Weight("W", new long[] { 6, 6 })))),
        ["TopK_values"] = new(13, new long[] { 2, 3, 5 }, "sin", (b, t) =>
            b.Node("Mul", I(b.NodeMulti("TopK", I(t, b.Longs("k", 2)), 2)[0], b.Weight("W", new long[] { 2 })))),
        ["Identity_Dropout"] = new(13, new long[] { 2, 3 }, "sin", (b, t) =>
            b.Node("Mul", I(b.Node("Dropout", I(b.Node("Identity", I(t)))), b.Weight("W", new long[] { 3 })))),

        // Reductions.
        ["ReduceMean_attribute_axes"] = new(13, new long[] { 2, 3, 4 }, "sin", (b, t) => b.Node("ReduceMean", I(t), A("axes", new long[] { 1 }))),
        ["ReduceMean_axes_input_opset18"] = new(18, new long[] { 2, 3, 4 }, "sin", (b, t) => b.Node("ReduceMean", I(t, b.Longs("axes", -1, 0)), A("keepdims", 0L))),
        ["ReduceSum_axes_input"] = new(13, new long[] { 2, 3, 4 }, "sin", (b, t) => b.Node("ReduceSum", I(t, b.Longs("axes", 2)), A("keepdims", 0L))),
        ["ReduceSum_all"] = new(13, new long[] { 2, 3, 4 }, "sin", (b, t) => b.Node("ReduceSum", I(b.Node("Mul", I(t, t))))),
        ["ReduceMax"] = new(13, new long[] { 2, 3, 4 }, "sin", (b, t) => b.Node("ReduceMax", I(t), A("axes", new long[] { 2 }))),
        ["ReduceMin"] = new(13, new long[] { 2, 3, 4 }, "sin", (b, t) => b.Node("ReduceMin", I(t), A("axes", new long[] { 0, 2 }))),
        ["ReduceL1"] = new(13, new long[] { 2, 3, 4 }, "sin", (b, t) => b.Node("ReduceL1", I(t), A("axes", new long[] { 1 }))),
        ["ReduceL2"] = new(13, new long[] { 2, 3, 4 }, "sin", (b, t) => b.Node("ReduceL2", I(t), A("axes", new long[] { 1 }))),
        ["ReduceProd"] = new(13, new long[] { 2, 3, 4 }, "exp", (b, t) => b.Node("ReduceProd", I(t), A("axes", new long[] { 1, 2 }))),
        ["ReduceSumSquare"] = new(13, new long[] { 2, 3, 4 }, "sin", (b, t) => b.Node("ReduceSumSquare", I(t), A("axes", new long[] { 2 }))),
        ["ReduceLogSum"] = new(13, new long[] { 2, 3, 4 }, "exp", (b, t) => b.Node("ReduceLogSum", I(t), A("axes", new long[] { 2 }))),
        ["ReduceLogSumExp"] = new(13, new long[] { 2, 3, 4 }, "scale4", (b, t) => b.Node("ReduceLogSumExp", I(t), A("axes", new long[] { 1, 2 }))),
    };

    static Case Unary(string op, string pre, params (string, object)[] attrs) =>
        new(13, new long[] { 2, 3, 4 }, pre, (b, t) => b.Node(op, I(t), attrs));

    public static TheoryData<string> CaseNames()
    {
        var data = new TheoryData<string>();
        foreach (var name in Cases.Keys) data.Add(name);
        return data;
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Autograd_to_input_and_tap_matches_finite_differences(string name)
    {
        var c = Cases[name];
        LayerLens.Native.TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();

        var full = new OnnxGraphBuilder(c.Opset);
        var x = full.Input("x", c.Shape);
        var tap = c.Pre switch
        {
            "sin" => full.Node("Sin", I(x)),
            "exp" => full.Node("Exp", I(x)),
            _ => full.Node("Mul", I(x, full.Doubles("four", Array.Empty<long>(), new[] { 4.0 }))),
        };
        full.Output(c.Op(full, tap));
        using var graph = full.Build(name);

        var x0 = Uniform(c.Shape, 1);
        var xg = x0.clone().requires_grad_(true);
        Tensor loss, gradX, gradTap, t0;
        Tensor weights;
        using (var result = graph.Run(xg, new RunOptions { Taps = new[] { tap }, Grad = true }))
        {
            var y = result.Outputs.Values.Single();
            Assert.Equal(ScalarType.Float64, y.dtype);
            weights = Uniform(y.shape, 2);
            loss = (y * weights).sum();
            var grads = torch.autograd.grad(new[] { loss }, new[] { xg, result.Taps[tap] });
            gradX = grads[0].detach().clone();
            gradTap = grads[1].detach().clone();
            t0 = result.Taps[tap].detach().clone();
        }

        var tailBuilder = new OnnxGraphBuilder(c.Opset);
        var tIn = tailBuilder.Input("t", t0.shape);
        tailBuilder.Output(c.Op(tailBuilder, tIn));
        using var tail = tailBuilder.Build(name + "_tail");

        double Loss(ModelGraph g, Tensor input)
        {
            using var inner = NewDisposeScope();
            using var r = g.Run(input, new RunOptions());
            return (r.Outputs.Values.Single() * weights).sum().item<double>();
        }

        // The tail graph must compute the same loss from the tap as the whole graph from x.
        Assert.Equal(loss.item<double>(), Loss(tail, t0), 12);

        var (errX, scaleX) = CheckAgainstFiniteDifferences(x0, gradX, v => Loss(graph, v));
        var (errT, scaleT) = CheckAgainstFiniteDifferences(t0, gradTap, v => Loss(tail, v));
        _out.WriteLine($"{name}: opset {c.Opset}, d/dx max err {errX:E2} (scale {scaleX:E2}), d/dtap max err {errT:E2} (scale {scaleT:E2})");
        Assert.True(scaleX > 1e-8, $"{name}: gradient to the input is zero everywhere sampled; the case checks nothing");
        Assert.True(scaleT > 1e-8, $"{name}: gradient to the tap is zero everywhere sampled; the case checks nothing");
        Assert.True(errX <= Tolerance * scaleX, $"{name}: d loss/d input differs from finite differences by {errX:E3} (largest component {scaleX:E3})");
        Assert.True(errT <= Tolerance * scaleT, $"{name}: d loss/d tap '{tap}' differs from finite differences by {errT:E3} (largest component {scaleT:E3})");
    }

    /// <summary>Central differences at up to <see cref="MaxCoordinates"/> seeded coordinates; returns the largest
    /// absolute disagreement and the largest finite-difference component.</summary>
    static (double Err, double Scale) CheckAgainstFiniteDifferences(Tensor at, Tensor grad, Func<Tensor, double> loss)
    {
        long n = at.numel();
        var coords = Enumerable.Range(0, (int)n).ToArray();
        if (n > MaxCoordinates) coords = coords.Shuffled(new Random(3)).Take(MaxCoordinates).ToArray();
        var flat = at.reshape(-1);
        var g = grad.reshape(-1).data<double>().ToArray();
        double err = 0, scale = 0;
        foreach (var i in coords)
        {
            var plus = flat.clone(); plus[i] += H;
            var minus = flat.clone(); minus[i] -= H;
            double fd = (loss(plus.reshape(at.shape)) - loss(minus.reshape(at.shape))) / (2 * H);
            err = Math.Max(err, Math.Abs(fd - g[i]));
            scale = Math.Max(scale, Math.Abs(fd));
        }
        return (err, scale);
    }

    static Tensor Uniform(long[] shape, int seed)
    {
        var rng = new Random(seed);
        long n = shape.Aggregate(1L, (a, b) => a * b);
        var values = Enumerable.Range(0, (int)n).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
        return torch.tensor(values, dtype: ScalarType.Float64).reshape(shape);
    }
}

static class ShuffleExtensions
{
    public static T[] Shuffled<T>(this T[] items, Random rng)
    {
        var a = (T[])items.Clone();
        for (int i = a.Length - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (a[i], a[j]) = (a[j], a[i]);
        }
        return a;
    }
}
