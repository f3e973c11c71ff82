"""One process or many: the trainer's view of `torchrun`.

Under ``torchrun --nproc_per_node N`` each process finds RANK, LOCAL_RANK and WORLD_SIZE in its
environment; this module joins the process group (NCCL on GPUs, gloo on the CPU), picks each
process's device, and offers the few collective operations the trainer needs. Without torchrun it is
a single process and every operation is a no-op, so the same training code runs in both.
"""

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import ConfigError
from ..profiles import device_for


@dataclass(frozen=True)
class Processes:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def mean(self, values: dict[str, torch.Tensor]) -> dict[str, float]:
        """The mean of each 0-dim tensor over all processes, as floats (one all-reduce for all)."""
        if not values:
            return {}
        stacked = torch.stack([v.detach().float() for v in values.values()])
        if self.distributed:
            device = "cuda" if dist.get_backend() == "nccl" else "cpu"
            stacked = stacked.to(device)
            dist.all_reduce(stacked)
            stacked /= self.world_size
        return dict(zip(values, stacked.tolist()))


def start(device_name: str, profile: str) -> tuple[Processes, torch.device]:
    """Join the process group if torchrun started us; returns the processes and this one's device.

    device_name: the config's "auto" (the profile's device, `minisagan.profiles.device_for`), "cpu",
    "cuda" or "cuda:N". Under torchrun on GPUs each process takes the GPU of its LOCAL_RANK.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Processes(), resolve_device(device_name, profile)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, profile)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Processes(rank, world_size, local_rank), device


def stop(processes: Processes) -> None:
    if processes.distributed and dist.is_initialized():
        dist.destroy_process_group()


def resolve_device(name: str, profile: str) -> torch.device:
    """The config's device: "auto" is the profile's (a CUDA GPU in the gpu profile, else the CPU)."""
    if name == "auto":
        return device_for(profile)
    if not (name in ("cpu", "cuda") or (name.startswith("cuda:") and name[5:].isdigit())):
        raise ConfigError(f"config key 'device': must be 'auto', 'cpu', 'cuda' or 'cuda:N' (got {name!r})")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"config key 'device' is {name!r} but this machine has no CUDA GPU; use 'auto' or 'cpu'")
    if name.startswith("cuda:") and int(name[5:]) >= torch.cuda.device_count():
        raise ConfigError(f"config key 'device' is {name!r} but this machine has {torch.cuda.device_count()} CUDA "
                          "GPU(s), numbered from 0")
    return torch.device(name)
