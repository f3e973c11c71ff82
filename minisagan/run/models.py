"""The networks of a run: built from the configuration, or read back from a checkpoint.

``model="sagan"`` is Chapter 4's SAGAN; ``model="toygan"`` is Chapter 1's toy GAN, wrapped so that
it takes SAGAN's ``(input, labels)`` call and ignores the labels.
"""

from pathlib import Path

import torch
from torch import nn

from ..checkpoint import load_checkpoint
from ..errors import CheckpointError
from ..sagan import Discriminator, Generator, SAGANConfig
from ..toygan import ToyDiscriminator, ToyGenerator
from .config import TrainConfig


class LabelFree(nn.Module):
    """Chapter 1's toy networks behind the (input, labels) call of SAGAN's; the labels are ignored."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x, y=None):
        return self.net(x)


def conditioning_classes(model: str, conditional: bool, data_classes: int) -> int:
    """The classes G and D are conditioned on: 0 when the run is unconditional or the toy GAN."""
    return data_classes if conditional and model == "sagan" else 0


def build_models(model: str, sagan: SAGANConfig, seed: int, device: torch.device) -> tuple[nn.Module, nn.Module]:
    """G and D, their weights drawn from ``seed``: SAGAN as ``sagan`` says, or the toy GAN at its
    resolution, width and z_dim."""
    torch.manual_seed(seed)
    if model == "toygan":
        G = LabelFree(ToyGenerator(sagan.z_dim, sagan.width, sagan.resolution))
        D = LabelFree(ToyDiscriminator(sagan.width, sagan.resolution))
    else:
        G, D = Generator(sagan), Discriminator(sagan)
    return G.to(device), D.to(device)


def load_generator(checkpoint_path: str | Path, device: str = "cpu", average: bool = True):
    """The generator of a checkpoint (its average when it has one and ``average``), in eval mode,
    with the configuration it was trained with and its number of classes (0: unconditional)."""
    G, _, config, num_classes = load_models(checkpoint_path, device, average, with_d=False)
    return G, config, num_classes


def load_models(checkpoint_path: str | Path, device: str = "cpu", average: bool = True, with_d: bool = True):
    """G (its average when it has one and ``average``) and D of a checkpoint (None unless
    ``with_d``), both in eval mode, with the configuration and number of classes (Chapter 8 looks at
    both networks' attention). The file is read once."""
    state = load_checkpoint(checkpoint_path, map_location=device)
    config = TrainConfig.from_dict(state["config"])
    num_classes = state.get("num_classes", 0)
    G, D = build_models(config.model, config.sagan_config(num_classes), config.seed, torch.device(device))
    weights = state["ema"] if average and state.get("ema") is not None else state["G"]
    for net, net_weights in ((G, weights), (D, state["D"] if with_d else None)):
        if net_weights is None:
            continue
        try:
            net.load_state_dict(net_weights)
        except RuntimeError as err:
            raise CheckpointError(f"{str(checkpoint_path)!r} does not match its own configuration: "
                                  f"{str(err)[:300]}") from None
    return G.eval(), D.eval() if with_d else None, config, num_classes
