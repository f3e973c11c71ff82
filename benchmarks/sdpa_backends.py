"""Which scaled-dot-product-attention kernel each attention block of G and D gets.

    PYTHONPATH=$PWD python benchmarks/sdpa_backends.py [--resolution 128 --width 64 --attention 64
        --batch 256 --device cuda --dtype bf16 --out sdpa.json]

Chapter 3's `fused_attention` hands `F.scaled_dot_product_attention` queries, keys and values padded
to one width, as one head: [B, 1, N, width]. PyTorch then picks a kernel by itself and, when the fast
ones refuse the inputs, falls back to the math kernel, which stores the N x M matrix (at feat64 in
D's step: 512 x 4096 x 1024 numbers) without saying so. This script runs G and D once, as a training
step would (G on a batch of B, D on the D step's [real; fake] batch of 2B, under bf16 autocast when
--dtype bf16), records the tensors each block really hands to SDPA, and for each of them says
- which backends of `torch.nn.attention.SDPBackend` accept them: forward and backward under
  `sdpa_kernel([backend])`, which raises RuntimeError when that backend cannot run (the reason torch
  warns about is kept), with milliseconds per forward + backward for those that can;
- which one the unrestricted call uses: on CUDA from the profiler's kernel names ("flash", "fmha" /
  "efficient" / "mem_eff", "cudnn", otherwise math), on a CPU from its operator names (the fused CPU
  kernel `aten::_scaled_dot_product_flash_attention_for_cpu` or `aten::_scaled_dot_product_attention_math`).

The dry run CI executes, a few seconds on a CPU:

    PYTHONPATH=$PWD python benchmarks/sdpa_backends.py --resolution 32 --width 8 --attention 16 \\
        --batch 2 --device cpu --dtype fp32
"""

import argparse
import json
import statistics
import time
import types
import warnings
from contextlib import contextmanager, nullcontext

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.profiler import ProfilerActivity, profile

import minisagan.attention
from minisagan.attention import SelfAttention
from minisagan.sagan import Discriminator, Generator, SAGANConfig

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
BACKENDS = [getattr(SDPBackend, name) for name in ("FLASH_ATTENTION", "EFFICIENT_ATTENTION", "CUDNN_ATTENTION", "MATH")
            if hasattr(SDPBackend, name)]  # the ones this torch has
KERNEL_WORDS = [("cudnn", "cudnn"), ("flash", "flash"), ("fmha", "efficient"), ("efficient", "efficient"),
                ("mem_eff", "efficient")]  # cuDNN's kernel names may say "flash" too: it goes first
CPU_OPS = {"aten::_scaled_dot_product_flash_attention_for_cpu": "cpu fused (flash)",
           "aten::_scaled_dot_product_attention_math": "math"}


def autocast_for(device: torch.device, dtype: torch.dtype):
    """The trainer's mixed precision: fp32 weights, bf16 (or fp16) activations; nothing for fp32."""
    if dtype == torch.float32:
        return nullcontext()
    return torch.autocast(device.type, dtype=dtype)


@contextmanager
def recording_sdpa(calls: list, current: dict):
    """Within: every SDPA call of minisagan.attention is appended to calls, with the block running it.

    Replaces the module's `F` by a namespace whose SDPA records its inputs; torch itself is untouched.
    """
    functional = minisagan.attention.F
    sdpa = functional.scaled_dot_product_attention

    def record(query, key, value, **kwargs):
        calls.append(dict(current, query=query.detach(), key=key.detach(), value=value.detach(), kwargs=kwargs))
        return sdpa(query, key, value, **kwargs)

    proxy = types.SimpleNamespace(**{name: getattr(functional, name) for name in dir(functional)
                                     if not name.startswith("__")})
    proxy.scaled_dot_product_attention = record
    minisagan.attention.F = proxy
    try:
        yield
    finally:
        minisagan.attention.F = functional


def capture_sdpa_inputs(config: SAGANConfig, batch: int, device: torch.device, dtype: torch.dtype) -> list[dict]:
    """Run G on batch latents and D on 2 * batch images; the inputs each attention block hands SDPA."""
    torch.manual_seed(0)
    G, D = Generator(config).to(device), Discriminator(config).to(device)
    calls, current, hooks = [], {}, []
    for network, model in (("G", G), ("D", D)):
        for name, module in model.named_modules():
            if isinstance(module, SelfAttention):
                def note(module, inputs, network=network, name=name):
                    current.update(network=network, block=name, resolution=inputs[0].shape[-1],
                                   batch=inputs[0].shape[0])
                hooks.append(module.register_forward_pre_hook(note))
    z = torch.randn(batch, config.z_dim, device=device)
    y = torch.randint(config.num_classes, (batch,), device=device) if config.num_classes else None
    images = torch.rand(2 * batch, 3, config.resolution, config.resolution, device=device) * 2 - 1
    labels = torch.randint(config.num_classes, (2 * batch,), device=device) if config.num_classes else None
    try:
        with torch.no_grad(), autocast_for(device, dtype), recording_sdpa(calls, current):
            G(z, y)
            D(images, labels)
    finally:
        for hook in hooks:
            hook.remove()
    return calls


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def forward_backward(call: dict, device: torch.device, dtype: torch.dtype) -> None:
    """One SDPA forward and backward on the recorded inputs, as in a training step."""
    query, key, value = (call[k].clone().requires_grad_() for k in ("query", "key", "value"))
    with autocast_for(device, dtype):
        out = torch.nn.functional.scaled_dot_product_attention(query, key, value, **call["kwargs"])
    out.float().sum().backward()
    sync(device)


def try_backend(call: dict, backend, device: torch.device, dtype: torch.dtype, repeats: int):
    """(milliseconds per forward + backward, None) when backend runs these inputs, else (None, why not)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with sdpa_kernel([backend]):
                forward_backward(call, device, dtype)  # warm-up, and the test
                times = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    forward_backward(call, device, dtype)
                    times.append(time.perf_counter() - start)
            return statistics.median(times) * 1e3, None
        except RuntimeError as error:
            reasons = [str(w.message).strip() for w in caught] or [str(error).strip()]
            return None, " ".join(" ".join(reasons).split())[:400]


def used_backend(call: dict, device: torch.device, dtype: torch.dtype) -> tuple[str, list[str]]:
    """The backend of the unrestricted forward call, and the names that decided it."""
    query, key, value = (call[k] for k in ("query", "key", "value"))
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof, autocast_for(device, dtype):
        torch.nn.functional.scaled_dot_product_attention(query, key, value, **call["kwargs"])
        sync(device)
    events = list(prof.events())
    ops = sorted({e.name for e in events if "scaled_dot_product" in e.name})
    if device.type != "cuda":
        for op, backend in CPU_OPS.items():
            if op in ops:
                return backend, [op]
        return "math", ops
    kernels = {e.name for e in events if getattr(e, "device_type", None) == torch.autograd.DeviceType.CUDA}
    kernels |= {k.name for e in events for k in getattr(e, "kernels", [])}
    # Without kernel names (no CUPTI) the operators say it too: aten::_scaled_dot_product_flash_attention, ...
    for word, backend in KERNEL_WORDS:
        found = sorted(name for name in (kernels or ops) if word in name.lower())
        if found:
            return backend, found + ([] if kernels else ["(operator names: the profiler saw no kernels)"])
    return "math", ops + sorted(kernels)[:8]


def sdpa_report(config: SAGANConfig, batch: int, device, dtype, repeats: int = 3) -> list[dict]:
    """One dict per attention block of G and D: its SDPA inputs, the backends that accept them, the one used."""
    device, dtype = torch.device(device), DTYPES.get(dtype, dtype)
    rows = []
    for call in capture_sdpa_inputs(config, batch, device, dtype):
        accepted, rejected, milliseconds = [], {}, {}
        for backend in BACKENDS:
            ms, why_not = try_backend(call, backend, device, dtype, repeats)
            if why_not is None:
                accepted.append(backend.name)
                milliseconds[backend.name] = round(ms, 3)
            else:
                rejected[backend.name] = why_not
        used, evidence = used_backend(call, device, dtype)
        rows.append(dict(network=call["network"], block=call["block"], resolution=call["resolution"],
                         batch=call["batch"], query=list(call["query"].shape), key=list(call["key"].shape),
                         value=list(call["value"].shape), dtype=str(call["query"].dtype).removeprefix("torch."),
                         accepted=accepted, rejected=rejected, ms_forward_backward=milliseconds, used=used,
                         evidence=evidence))
    return rows


def print_table(rows: list[dict]) -> None:
    shape = lambda s: "x".join(map(str, s))
    print(f"{'net':<3} {'block':<9} {'res':>4} {'query':<18} {'key':<18} {'value':<18} {'dtype':<9} "
          f"{'used':<18} accepted (ms forward + backward)")
    for r in rows:
        accepted = ", ".join(f"{name} {r['ms_forward_backward'][name]:.2f}" for name in r["accepted"]) or "none"
        print(f"{r['network']:<3} {r['block']:<9} {r['resolution']:>4} {shape(r['query']):<18} {shape(r['key']):<18} "
              f"{shape(r['value']):<18} {r['dtype']:<9} {r['used']:<18} {accepted}")
    for r in rows:
        for name, why in r["rejected"].items():
            print(f"  {r['network']} {r['block']}: {name} refused: {why}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Which SDPA kernel each attention block of G and D gets")
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--attention", type=int, default=64, help="feature resolution of the attention block")
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=256, help="G's batch; D sees 2x (the D step's [real; fake])")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", choices=DTYPES, default="bf16")
    parser.add_argument("--repeats", type=int, default=3, help="timed forward + backward passes per backend")
    parser.add_argument("--out", help="write the rows as JSON to this file")
    args = parser.parse_args()
    config = SAGANConfig(resolution=args.resolution, width=args.width, num_classes=args.classes,
                         attention=args.attention)
    device = torch.device(args.device)
    start = time.perf_counter()
    rows = sdpa_report(config, args.batch, device, args.dtype, args.repeats)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"torch {torch.__version__} on {name}: {args.resolution}x{args.resolution}, width {args.width}, "
          f"attention at {args.attention}, batch {args.batch}, {args.dtype}; backends tried: "
          f"{', '.join(b.name for b in BACKENDS)}")
    print_table(rows)
    print(f"({time.perf_counter() - start:.1f} s)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(dict(torch=torch.__version__, device=name, config=vars(args), blocks=rows), f, indent=1)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
