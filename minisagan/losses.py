# Generated from book/01_gans_and_hinge.md by minisagan.bookbuild.mirror.
# Do not edit: change the chapter, then run `make mirror`.


# --- book/01_gans_and_hinge.md, section: The code
"""Adversarial losses on discriminator scores: the hinge loss SAGAN trains with (eq. 4)
and the non-saturating loss it is compared with. Scores are raw (no sigmoid), shape
[batch]."""

import torch
import torch.nn.functional as F


def hinge_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    # eq. (4): L_D = E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]
    return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()


def hinge_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    # eq. (4): L_G = -E[D(G(z))]
    return -fake_scores.mean()


def ns_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    # cross-entropy: -log sigmoid(D(x)) - log(1 - sigmoid(D(G(z)))),
    # written with softplus, which keeps it finite
    return F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean()


def ns_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    # non-saturating: -log sigmoid(D(G(z)))
    return F.softplus(-fake_scores).mean()


LOSSES = {"hinge": (hinge_d_loss, hinge_g_loss), "ns": (ns_d_loss, ns_g_loss)}
