"""Generator throughput and FLOP/s share: fp32 eager vs bf16 vs bf16 + channels_last + torch.compile.

    python -m bench.bench_throughput [--batches 1,16,64] [--repeats 3] [--train-batch 32]

The bundled 64x64 generator on this machine's device (a GPU when there is one). Sampling: one guided UNet call
at batch 2B (conditional and unconditional halves) is timed; images/s for the service's default job is
B / (25 steps x that time), since the UNet is the whole sampling loop (pipeline overhead 0.999, see
bench_sampling). Training: one step (forward, backward, AdamW) at --train-batch. FLOPs come from
torch.utils.flop_counter.FlopCounterMode; the peak is measured here with a large matrix product in the same
dtype, so the share says how much of the matrix units the UNet uses.
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.common import interleaved, median, save, table
from models.catalog import BUNDLED_DIR, DEFAULT_GENERATOR
from models.diffusion.pipeline import RadSynthPipeline
from models.diffusion.speed import optimize_unet
from models.diffusion.unet import FindingUNet

MODES = {  # name -> (bf16 autocast, channels_last, compile)
    "fp32-eager": (False, False, False),
    "bf16-eager": (True, False, False),
    "bf16-cl-compiled": (True, True, True),
}
SAMPLER_STEPS = 25


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def medians(fns: dict[str, Callable[[], object]], device: torch.device, repeats: int, warmup: int = 1) -> dict:
    """Median seconds per call, the functions alternating call by call (drift on a shared host hits all alike)."""
    times = interleaved(fns, repeats, warmup=warmup, sync=lambda: sync(device))
    return {name: median(v) for name, v in times.items()}


def matmul_peak(device: torch.device, bf16: bool, n: int) -> float:
    """FLOP/s of an n x n matrix product in bf16 or fp32: the reachable peak of this device's matrix units."""
    dtype = torch.bfloat16 if bf16 else torch.float32
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    t = medians({"matmul": lambda: a @ b}, device, repeats=5 if device.type == "cpu" else 20, warmup=2)["matmul"]
    return 2 * n**3 / t


def count_flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def forward_once(unet: FindingUNet, device: torch.device, b: int) -> None:
    """One guided call at batch 2b (what FlopCounterMode counts; the layout and dtype do not change it)."""
    labels = torch.cat([unet.encode_findings("Mass", b), unet.null_labels(b)]).to(device)
    with torch.inference_mode():
        unet(torch.randn(2 * b, 1, 64, 64, device=device), torch.full((2 * b,), 500, device=device), labels)


def device_facts(device: torch.device) -> dict:
    facts = {"torch": torch.__version__, "device": "cpu", "threads": torch.get_num_threads()}
    if device.type == "cuda":
        facts["device"] = torch.cuda.get_device_name(device)
        facts["cuda"] = torch.version.cuda
        try:
            facts["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                             capture_output=True, text=True, timeout=10).stdout.strip()
        except OSError:
            facts["driver"] = "unknown"
    return facts


def make_unet(base: FindingUNet, device: torch.device, channels_last: bool, compile: bool) -> FindingUNet:
    unet = copy.deepcopy(base).to(device)
    return optimize_unet(unet, channels_last=channels_last, compile=compile)


def first_call(fn, device: torch.device) -> float:
    """Seconds of the first call (for a compiled model: the compilation, or a load from inductor's cache)."""
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def sampling_rows(base: FindingUNet, device: torch.device, batches: list[int], repeats: int,
                  peaks: dict[bool, float]) -> list[dict]:
    reference = copy.deepcopy(base).to(device).eval()
    unets = {mode: make_unet(base, device, cl, comp).eval() for mode, (_, cl, comp) in MODES.items()}
    rows = []
    for b in batches:
        flops = count_flops(lambda b=b: forward_once(reference, device, b))
        t = torch.full((2 * b,), 500, device=device)
        labels = torch.cat([base.encode_findings("Consolidation", b), base.null_labels(b)]).to(device)
        calls = {}
        for mode, (bf16, channels_last, _) in MODES.items():
            x = torch.randn(2 * b, 1, 64, 64, device=device)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)

            def call(unet=unets[mode], x=x, bf16=bf16, t=t, labels=labels):
                with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    return unet(x, t, labels)

            calls[mode] = call
        firsts = {mode: first_call(fn, device) for mode, fn in calls.items()}
        secs = medians(calls, device, repeats)
        for mode, sec in secs.items():
            bf16 = MODES[mode][0]
            rows.append({"mode": mode, "batch": b, "unet_call_s": sec, "first_call_s": firsts[mode],
                         "images_per_s": b / (SAMPLER_STEPS * sec), "vs_fp32_eager": secs["fp32-eager"] / sec,
                         "tflop_per_s": flops / sec / 1e12, "share_of_peak": flops / sec / peaks[bf16]})
        print(f"  batch {b}: " + ", ".join(f"{m} {v:.4f} s" for m, v in secs.items()), flush=True)
    return rows


def training_rows(base: FindingUNet, device: torch.device, batch: int, repeats: int,
                  peaks: dict[bool, float]) -> list[dict]:
    x = torch.randn(batch, 1, 64, 64, device=device)
    noise = torch.randn_like(x)
    t = torch.randint(0, 1000, (batch,), device=device)
    labels = torch.cat([base.encode_findings("Effusion", batch // 2), base.null_labels(batch - batch // 2)]).to(device)
    steps = {}
    for mode, (bf16, channels_last, compile) in MODES.items():
        unet = make_unet(base, device, channels_last, compile).train()
        opt = torch.optim.AdamW(unet.parameters(), lr=1e-4)

        def step(unet=unet, opt=opt, bf16=bf16):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                pred = unet(x, t, labels)
            loss = torch.nn.functional.mse_loss(pred.float(), noise)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        steps[mode] = step
    flops = count_flops(steps["fp32-eager"])  # the counter cannot see inside compiled graphs; same arithmetic
    secs = medians(steps, device, repeats, warmup=2)  # the first call of the compiled step compiles it
    print("  training: " + ", ".join(f"{m} {v:.3f} s" for m, v in secs.items()), flush=True)
    return [{"mode": mode, "batch": batch, "step_s": sec, "images_per_s": batch / sec,
             "vs_fp32_eager": secs["fp32-eager"] / sec, "tflop_per_s": flops / sec / 1e12,
             "share_of_peak": flops / sec / peaks[MODES[mode][0]]} for mode, sec in secs.items()]


def profile_rows(base: FindingUNet, device: torch.device, batch: int, top: int = 12) -> list[dict]:
    """Where a bf16 guided UNet call at `batch` spends its time: the top operators by self time (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    unet = copy.deepcopy(base).to(device).eval()
    x = torch.randn(2 * batch, 1, 64, 64, device=device)
    t = torch.full((2 * batch,), 500, device=device)
    labels = torch.cat([unet.encode_findings("Consolidation", batch), unet.null_labels(batch)]).to(device)

    def call():
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16):
            unet(x, t, labels)

    call()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        call()
        sync(device)
    attr = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = [e for e in prof.key_averages() if getattr(e, attr) > 0]
    total = sum(getattr(e, attr) for e in events)
    events.sort(key=lambda e: getattr(e, attr), reverse=True)
    return [{"op": e.key, "calls": e.count, "self_ms": getattr(e, attr) / 1e3, "share": getattr(e, attr) / total}
            for e in events[:top]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", default=None, help="comma-separated (default: 1,16,64 on CPU, 1,16,64,256 on GPU)")
    ap.add_argument("--repeats", type=int, default=None, help="timed calls per row (default: 5 on CPU, 20 on GPU)")
    ap.add_argument("--train-batch", type=int, default=32)
    ap.add_argument("--no-training", action="store_true")
    ap.add_argument("--profile", type=int, default=64, help="batch of the bf16 profile (0: none)")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    gpu = device.type == "cuda"
    batches = [int(b) for b in (args.batches or ("1,16,64,256" if gpu else "1,16,64")).split(",")]
    repeats = args.repeats or (20 if gpu else 5)
    base = RadSynthPipeline.load(BUNDLED_DIR / DEFAULT_GENERATOR).unet
    peaks = {bf16: matmul_peak(device, bf16, 8192 if gpu else 2048) for bf16 in (False, True)}
    print(f"{device_facts(device)}; measured matmul peak: fp32 {peaks[False] / 1e12:.2f}, "
          f"bf16 {peaks[True] / 1e12:.2f} TFLOP/s", flush=True)
    sampling = sampling_rows(base, device, batches, repeats, peaks)
    cols = ["mode", "batch", "unet_call_s", "first_call_s", "images_per_s", "vs_fp32_eager", "tflop_per_s",
            "share_of_peak"]
    print("\nsampling (guided, images/s for a 25-step job)\n" + table(sampling, cols))
    training = [] if args.no_training else training_rows(base, device, args.train_batch, repeats, peaks)
    if training:
        print("\ntraining\n" + table(training, ["mode", "batch", "step_s", "images_per_s", "vs_fp32_eager",
                                                "tflop_per_s", "share_of_peak"]))
    profiled = profile_rows(base, device, args.profile) if args.profile else []
    if profiled:
        print(f"\nbf16 guided UNet call at batch {args.profile}: top operators by self time\n"
              + table(profiled, ["op", "calls", "self_ms", "share"]))
    path = save("throughput", {"device_facts": device_facts(device), "peak_flops": {"fp32": peaks[False],
                               "bf16": peaks[True]}, "sampler_steps": SAMPLER_STEPS, "repeats": repeats,
                               "sampling": sampling, "training": training,
                               "profile_bf16": {"batch": args.profile, "top_ops": profiled}})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
