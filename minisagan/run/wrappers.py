"""What the application wraps around Chapter 6's networks to make the same loop fast and
parallel: DistributedDataParallel under ``torchrun``, ``torch.compile``, bfloat16 autocast.

`wrap_networks` returns the networks as `minisagan.training.train_iteration` takes them in
``wrapped``: ``G_train`` / ``D_train`` take gradients (DDP-wrapped under torchrun), ``G_fwd`` /
``D_fwd`` are the plain modules (compiled when asked), for the other network's step: a network
whose weights a step does not update needs no gradient all-reduce. Chapter 7 measures the switches.
"""

import warnings
from contextlib import nullcontext
from functools import partial

import torch
from torch import nn

from .distributed import Processes


def wrap_networks(G: nn.Module, D: nn.Module, processes: Processes, device: torch.device,
                  compiled: bool) -> dict[str, nn.Module]:
    """{"G_train", "D_train", "G_fwd", "D_fwd"}: G and D as each step calls them."""
    if compiled and device.type == "cuda":
        # channels_last, the layout the compiled convolutions are fastest in, before any DDP wrap:
        # DDP's gradient buckets take the parameters' strides when it is built
        G.to(memory_format=torch.channels_last)
        D.to(memory_format=torch.channels_last)
    G_train, D_train = G, D
    if processes.distributed:
        ids = [device.index] if device.type == "cuda" else None
        # broadcast_buffers=False: each process's SN vectors are computed from identical weights,
        # and a broadcast would race with their in-place update. torch 2.14 calls the flag
        # deprecated but its replacement still syncs at start, which is harmless here; the
        # warning is silenced until torch offers init_sync_buffers.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*broadcast_buffers", category=FutureWarning)
            G_train = nn.parallel.DistributedDataParallel(G, device_ids=ids, broadcast_buffers=False)
            D_train = nn.parallel.DistributedDataParallel(D, device_ids=ids, broadcast_buffers=False)
    nets = {"G_train": G_train, "D_train": D_train, "G_fwd": G, "D_fwd": D}
    if compiled:
        if processes.distributed:
            # compiling DDP-wrapped modules with parametrizations (spectral norm) has failed in
            # dynamo's DDP optimizer (PyTorch issue 113415); without it, one graph per network
            torch._dynamo.config.optimize_ddp = False
        wrappers = {}  # one compiled wrapper per distinct module (one process: G_train is G_fwd)
        for role, net in nets.items():
            if id(net) not in wrappers:
                # static shapes: D sees 2B images in its step and B in G's, two graphs; dynamic
                # shapes made inductor fail on this model (torch 2.14, CPU)
                wrappers[id(net)] = torch.compile(net, dynamic=False)
            nets[role] = wrappers[id(net)]
    return nets


def autocast_for(amp: str, device: torch.device):
    """The autocast context factory of ``amp``: bfloat16 autocast on ``device``, or none."""
    return partial(torch.autocast, device.type, dtype=torch.bfloat16) if amp == "bf16" else nullcontext
