# Generated from book/01_gans_and_hinge.md by minisagan.bookbuild.mirror.
# Do not edit: change the chapter, then run `make mirror`.


# --- book/01_gans_and_hinge.md, section: The models: a small convolutional GAN
"""Chapter 1's small unconditional GAN: an upsampling convolutional generator, a
strided convolutional discriminator, and one training step (D then G, 1:1) with a
chosen loss."""

import math

import torch
from torch import nn

from minisagan.losses import LOSSES


class ToyGenerator(nn.Module):
    """z [batch, z_dim] -> images [batch, 3, resolution, resolution] in [-1, 1]."""

    def __init__(self, z_dim: int = 64, width: int = 32, resolution: int = 32):
        super().__init__()
        self.z_dim, self.resolution = z_dim, resolution
        n_up = int(math.log2(resolution // 4))  # 4 -> resolution in doublings
        # e.g. [256, 128, 64, 32]
        channels = [width * 2 ** (n_up - i) for i in range(n_up + 1)]
        self.project = nn.Linear(z_dim, channels[0] * 4 * 4)
        self.blocks = nn.Sequential(*[
            nn.Sequential(
                nn.BatchNorm2d(c_in), nn.ReLU(),
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(c_in, c_out, 3, padding=1),
            )
            for c_in, c_out in zip(channels[:-1], channels[1:])
        ])
        self.to_rgb = nn.Sequential(nn.BatchNorm2d(channels[-1]), nn.ReLU(),
                                    nn.Conv2d(channels[-1], 3, 3, padding=1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(z.shape[0], -1, 4, 4)  # [B, z_dim] -> [B, C0, 4, 4]
        return self.to_rgb(self.blocks(h))  # [B, C0, 4, 4] -> [B, 3, R, R]


class ToyDiscriminator(nn.Module):
    """images [batch, 3, resolution, resolution] -> scores [batch] (raw, no sigmoid)."""

    def __init__(self, width: int = 32, resolution: int = 32):
        super().__init__()
        n_down = int(math.log2(resolution // 4))
        # e.g. [32, 64, 128, 256]
        channels = [width * 2 ** i for i in range(n_down + 1)]
        layers = [nn.Conv2d(3, channels[0], 3, padding=1), nn.LeakyReLU(0.1)]
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1),  # halves H, W
                       nn.LeakyReLU(0.1)]
        self.features = nn.Sequential(*layers)
        self.score = nn.Linear(channels[-1] * 4 * 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)  # [B, 3, R, R] -> [B, C, 4, 4]
        return self.score(h.flatten(1)).squeeze(1)  # [B, C*16] -> [B]


def train_step(G, D, opt_G, opt_D, real, z_d, z_g,
               loss: str = "hinge") -> dict[str, float]:
    """One discriminator step then one generator step (1:1 updates).

    real: [B, 3, R, R]; z_d, z_g: [B, z_dim], the noise for D's and G's step (passed in,
    so that the caller owns the random numbers). Returns the step's losses and D's mean
    scores as floats.
    """
    d_loss_fn, g_loss_fn = LOSSES[loss]
    batch = real.shape[0]

    # D step: one forward over real and fake together,
    # so every layer sees one batch per step
    with torch.no_grad():
        fake = G(z_d)
    scores = D(torch.cat([real, fake]))  # [2B]
    real_scores, fake_scores = scores[:batch], scores[batch:]
    loss_d = d_loss_fn(real_scores, fake_scores)
    opt_D.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_D.step()

    # G step: gradients flow through D into G, but only G's parameters are updated
    loss_g = g_loss_fn(D(G(z_g)))
    opt_G.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_G.step()

    return {"loss_d": loss_d.item(), "loss_g": loss_g.item(),
            "d_real": real_scores.mean().item(), "d_fake": fake_scores.mean().item()}
