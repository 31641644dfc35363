#!/usr/bin/python3
"""PyTorch side of the LayerLens ResNet-18 benchmark (see docs/benchmarks.md).

Run with Debian's Python (python3-torch 1.13, python3-torchvision 0.14):

    /usr/bin/python3 bench/reference/resnet18_torch.py export --out /tmp/resnet18.onnx
    /usr/bin/python3 bench/reference/resnet18_torch.py bench --mode outputs --threads 2 --json out.json
    /usr/bin/python3 bench/reference/resnet18_torch.py bench --mode layers  --threads 2 --json out.json

`export` writes torchvision's resnet18 with random weights (seed 0) as ONNX opset 13 with a dynamic batch.
`bench` builds the same weights, times eager inference at the given batch and thread count, and reports
images per second and the peak resident set size (VmHWM) of this process. Mode `layers` hooks every
module and keeps only each output's mean over the spatial dims (or the output itself when it is 2-D).
"""
import argparse
import json
import os
import statistics
import time

import torch
import torchvision


def build_model():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    model.eval()
    return model


def export_onnx(out, height=224, width=224):
    """Writes build_model() as ONNX opset 13 with a dynamic batch and a height x width input (temp file + rename)."""
    model = build_model()
    x = torch.zeros(1, 3, height, width)
    tmp = out + ".tmp"
    # Eval-mode export folds BatchNorm into the convolutions (do_constant_folding), as torchvision users get.
    torch.onnx.export(model, x, tmp, opset_version=13, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=True)
    os.replace(tmp, out)


def export(args):
    export_onnx(args.out, args.size, args.size)
    print(f"wrote {args.out}")


def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return -1.0


def bench(args):
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    model = build_model()
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, args.size, args.size)

    reduced = []
    hooks = []
    if args.mode == "layers":
        def hook(module, inputs, output):
            if output.dim() > 2:
                reduced.append(output.mean(dim=tuple(range(2, output.dim()))))
            else:
                reduced.append(output)

        for name, module in model.named_modules():
            if name:  # the root module's output is the logits, already kept
                hooks.append(module.register_forward_hook(hook))

    times = []
    cpu_times = []
    checksum = 0.0
    tapped = 0
    with torch.inference_mode():
        for it in range(args.warmup + args.iters):
            cpu0 = time.process_time()
            start = time.perf_counter()
            logits = model(x)
            checksum = float(logits.sum())
            elapsed = time.perf_counter() - start
            tapped = len(reduced)
            reduced.clear()
            del logits
            if it >= args.warmup:
                times.append(elapsed)
                cpu_times.append(time.process_time() - cpu0)

    median = statistics.median(times)
    summary = {
        "side": "pytorch",
        "mode": args.mode,
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "size": args.size,
        "warmup": args.warmup,
        "iters": args.iters,
        "seconds": times,
        "median_seconds": median,
        "min_seconds": min(times),
        "cpu_seconds": cpu_times,
        "images_per_second": args.batch / median,
        "tapped_per_run": tapped,
        "hooked_modules": len(hooks),
        "peak_rss_mb": peak_rss_mb(),
        "logits_sum": checksum,
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
    }
    text = json.dumps(summary, indent=2)
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, args.json)
    print(text)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("--out", required=True)
    e.add_argument("--size", type=int, default=224)
    b = sub.add_parser("bench")
    b.add_argument("--mode", choices=["outputs", "layers"], default="outputs")
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--batch", type=int, default=32)
    b.add_argument("--size", type=int, default=224)
    b.add_argument("--warmup", type=int, default=2)
    b.add_argument("--iters", type=int, default=8)
    b.add_argument("--json")
    args = p.parse_args()
    export(args) if args.cmd == "export" else bench(args)


if __name__ == "__main__":
    main()
