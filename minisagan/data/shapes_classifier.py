"""A small classifier of mirror shapes, and the torch-fidelity feature extractor built on it.

The paper's Inception Score and FID read features from an ImageNet Inception network: 0.19 s per
image on a laptop CPU, weights that cannot be downloaded here, and classes (dogs, trucks) that mean
nothing for ten coloured shapes. The metrics chapter swaps in a *domain* network instead: this
95k-parameter CNN, trained in a few minutes to tell the ten shapes apart. Its penultimate layer
(128 numbers) plays the role of Inception's 2048-d pool features for FID and KID, and its logits
replace Inception's 1008 ImageNet logits for IS.
Everything else (the statistics, the subsets, the numerics) stays torch-fidelity's own code path:

    register_shapes_extractor()
    torch_fidelity.calculate_metrics(input1=..., input2=..., feature_extractor="minisagan-shapes",
                                     isc=True, fid=True, kid=True, cuda=False, save_cpu_ram=True)

The features should describe *shape*, the one thing the class fixes. Colour and position are
already random in the data; on top of that, training shifts images by a few pixels, scales their
contrast, swaps colour channels and adds noise, so that a generator's slightly-off samples (noisy,
recoloured, twins that disagree) are still read by their shape.

Train (about 2.5 minutes on a 2-core CPU) and write the shipped weights:

    python -m minisagan.data.shapes_classifier --seed 0 --threads 1
"""

import argparse
import time
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_fidelity import register_feature_extractor
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.helpers import vassert
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY
from tqdm.auto import tqdm

from ..checkpoint import load_checkpoint, save_checkpoint
from ..errors import MissingWeightsError
from .pixels import to_float
from .shapes import SHAPE_NAMES, ShapesDataset

INPUT_SIZE = 32  # the classifier sees 32x32; larger images are resized down first
FEATURE_DIM = 128
NUM_CLASSES = len(SHAPE_NAMES)
EXTRACTOR_NAME = "minisagan-shapes"
DEFAULT_WEIGHTS = Path(str(resources.files(__package__) / "shapes_classifier.pt"))  # shipped as package data
TRAIN_COMMAND = "python -m minisagan.data.shapes_classifier"
DEFAULT_STEPS = 1000
DEFAULT_BATCH = 64
MAX_SHIFT = 3  # px: random translation during training (objects sit >= 2 px from the border)


class ShapesClassifier(nn.Module):
    """Three conv stages (32, 64, 128 channels), global average pool, one linear layer.

    Input [B, 3, 32, 32] float in [-1, 1]; `features` gives [B, 128], `forward` gives logits [B, 10].
    The last layer has no bias, so the logits are also Inception's "logits_unbiased": IS reads exactly
    the posterior the classifier was trained to output.
    """

    def __init__(self, feature_dim: int = FEATURE_DIM, num_classes: int = NUM_CLASSES):
        super().__init__()
        widths = (3, 32, 64, feature_dim)
        stages = []
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            stages += [
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),  # BN supplies the bias
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),  # 32 -> 16 -> 8 -> 4
            ]
        self.body = nn.Sequential(*stages)
        self.head = nn.Linear(feature_dim, num_classes, bias=False)

    def features(self, x: Tensor) -> Tensor:
        """[B, 3, 32, 32] in [-1, 1] -> [B, 128], the global average of the last stage."""
        return self.body(x).mean((2, 3))  # [B, 128, 4, 4] -> [B, 128]

    def forward(self, x: Tensor) -> Tensor:
        """[B, 3, 32, 32] in [-1, 1] -> logits [B, 10]."""
        return self.head(self.features(x))


def to_classifier_input(images: Tensor) -> Tensor:
    """[B, 3, S, S] float in [-1, 1] -> [B, 3, 32, 32]; other sizes are resized bilinearly with antialiasing."""
    if images.shape[-2:] == (INPUT_SIZE, INPUT_SIZE):
        return images
    return F.interpolate(images, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True,
                         align_corners=False)


def augment(images: Tensor, generator: torch.Generator) -> Tensor:
    """Random shift (up to 3 px), channel order, contrast and noise: [B, 3, 32, 32] -> same shape.

    The label depends on the shape alone, so none of these may change it; they keep the features
    from leaning on the exact colours, positions and clean pixels of the real data.
    """
    B, C, H, W = images.shape
    padded = F.pad(images, (MAX_SHIFT,) * 4, mode="replicate")  # [B, 3, H + 6, W + 6]
    dx, dy = torch.randint(0, 2 * MAX_SHIFT + 1, (2, B), generator=generator).tolist()
    shifted = torch.stack([p[:, y:y + H, x:x + W] for p, x, y in zip(padded, dx, dy)])
    order = torch.argsort(torch.rand(B, C, generator=generator), dim=1)  # [B, 3] channel permutations
    shifted = torch.gather(shifted, 1, order[:, :, None, None].expand(B, C, H, W))
    unit = (shifted + 1) / 2  # [0, 1]
    contrast = 0.6 + 0.6 * torch.rand(B, 1, 1, 1, generator=generator)  # around the image mean
    mean = unit.mean((1, 2, 3), keepdim=True)
    unit = mean + contrast * (unit - mean)
    noise = 0.08 * torch.rand(B, 1, 1, 1, generator=generator) * torch.randn(unit.shape, generator=generator)
    return ((unit + noise).clamp(0, 1)) * 2 - 1


@torch.no_grad()
def accuracy(model: ShapesClassifier, dataset, batch_size: int = 500) -> float:
    """Fraction of `dataset` items (image [3, S, S] in [-1, 1], label) that `model` classifies correctly."""
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, len(dataset), batch_size):
        images, labels = _batch(dataset, range(start, min(start + batch_size, len(dataset))))
        correct += (model(to_classifier_input(images)).argmax(1) == labels).sum().item()
    model.train(was_training)
    return correct / len(dataset)


def _batch(dataset, indices) -> tuple[Tensor, Tensor]:
    items = dataset.__getitems__(list(indices))  # one vectorized render per batch
    images = torch.stack([image for image, _ in items])
    labels = torch.tensor([label for _, label in items])
    return images, labels


def train_classifier(seed: int = 0, steps: int = DEFAULT_STEPS, batch_size: int = DEFAULT_BATCH,
                     out: str | Path = DEFAULT_WEIGHTS, progress: bool = True) -> dict:
    """Train a `ShapesClassifier` from `seed`, test it, save it to `out`; return the stats.

    Data: `ShapesDataset(32, length=50_000, seed=seed)`, drawn in an order fixed by the seed;
    test: 2,000 images of `ShapesDataset(32, length=2_000, seed=seed + 1000)`, which shares no
    image with the training set. Adam with a cosine-decayed learning rate. The same seed gives the
    same weights (on one machine and torch version). Returns {"test_accuracy", "seed", "steps",
    "feature_dim", "seconds", "path"}; the file holds the same plus "state_dict".
    """
    torch.manual_seed(seed)  # the initial weights
    generator = torch.Generator().manual_seed(seed)  # data order and augmentation
    train_set = ShapesDataset(INPUT_SIZE, length=50_000, seed=seed)
    test_set = ShapesDataset(INPUT_SIZE, length=2_000, seed=seed + 1000)
    model = ShapesClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    order = torch.empty(0, dtype=torch.int64)

    start = time.perf_counter()
    model.train()
    bar = tqdm(range(steps), disable=not progress, desc="shapes classifier", unit="step")
    for _ in bar:
        if len(order) < batch_size:  # a fresh permutation per epoch
            order = torch.cat([order, torch.randperm(len(train_set), generator=generator)])
        indices, order = order[:batch_size], order[batch_size:]
        images, labels = _batch(train_set, indices.tolist())
        loss = F.cross_entropy(model(augment(images, generator)), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    seconds = time.perf_counter() - start

    stats = {"test_accuracy": accuracy(model, test_set), "seed": seed, "steps": steps,
             "feature_dim": FEATURE_DIM}
    path = save_checkpoint({"state_dict": model.state_dict(), **stats}, out)
    return {**stats, "seconds": seconds, "path": path}


def load_classifier(path: str | Path | None = None) -> ShapesClassifier:
    """The trained classifier from `path` (default: the shipped minisagan/data/shapes_classifier.pt), in eval mode.

    Raises `MissingWeightsError` when the file does not exist and `CheckpointError` when it is damaged.
    """
    path = Path(DEFAULT_WEIGHTS if path is None else path)
    if not path.is_file():
        raise MissingWeightsError(
            f"no shapes classifier weights at {str(path)!r}; create them with "
            f"`{TRAIN_COMMAND} --out {path}` (about 3 minutes on a CPU)"
        )
    state = load_checkpoint(path)
    model = ShapesClassifier(feature_dim=state.get("feature_dim", FEATURE_DIM))
    model.load_state_dict(state["state_dict"])
    return model.eval()


class ShapesFeatureExtractor(FeatureExtractorBase):
    """torch-fidelity's view of `ShapesClassifier`: uint8 images in, ("128", "logits_unbiased") out.

    forward: [B, 3, H, W] uint8 in [0, 255] (any square size; resized to 32) -> a tuple with one
    float32 tensor per requested feature, in `features_list` order: "128" is [B, 128] (FID, KID,
    precision/recall), "logits_unbiased" is [B, 10] (IS).
    """

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        # kwargs: the rest of calculate_metrics' options, which this extractor does not use
        super().__init__(name, features_list)
        self.classifier = load_classifier(feature_extractor_weights_path)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        vassert(torch.is_tensor(x) and x.dtype == torch.uint8,
                f"Expecting images as torch.Tensor with dtype=torch.uint8 in [0, 255], got "
                f"{x.dtype if torch.is_tensor(x) else type(x).__name__}; convert [-1, 1] floats with "
                "minisagan.data.pixels.to_uint8")
        vassert(x.dim() == 4 and x.shape[1] == 3, f"Input is not Bx3xHxW: {tuple(x.shape)}")
        images = to_classifier_input(to_float(x))  # [B, 3, 32, 32] in [-1, 1]
        features = self.classifier.features(images)  # [B, 128]
        provided = {"128": features, "logits_unbiased": self.classifier.head(features)}  # [B, 10]
        return tuple(provided[name].to(torch.float32) for name in self.features_list)

    @staticmethod
    def get_provided_features_list():
        return "128", "logits_unbiased"

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return {"isc": "logits_unbiased", "fid": "128", "kid": "128", "prc": "128"}[metric]

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return (torch.rand([1, 3, INPUT_SIZE, INPUT_SIZE]) * 255).to(torch.uint8)


def register_shapes_extractor() -> None:
    """Make `feature_extractor="minisagan-shapes"` available to torch-fidelity; calling it again does nothing."""
    if EXTRACTOR_NAME not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(EXTRACTOR_NAME, ShapesFeatureExtractor)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog=TRAIN_COMMAND.removeprefix("python -m "),
        description="Train the mirror-shapes classifier whose features the metrics chapter uses for IS, FID and KID.",
    )
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the weights, data order and augmentation (default 0)")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help=f"optimizer steps (default {DEFAULT_STEPS})")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH,
                        help=f"images per step (default {DEFAULT_BATCH})")
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS,
                        help="where to write the weights (default: the shipped minisagan/data/shapes_classifier.pt)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: torch's choice); 1 is fastest on a busy 2-core machine")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    stats = train_classifier(seed=args.seed, steps=args.steps, batch_size=args.batch_size, out=args.out)
    print(f"test accuracy {stats['test_accuracy']:.2%} after {stats['steps']} steps "
          f"({stats['seconds']:.0f} s); wrote {stats['path']} ({stats['path'].stat().st_size / 1024:.0f} KiB)")
    return stats


if __name__ == "__main__":
    main()
