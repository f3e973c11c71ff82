"""One typed configuration for a training run, validated when built, with a preset per profile.

The model's keys (resolution, width, z_dim, attention, attention_kind, official_attention, sn_g,
sn_d) carry the names of `minisagan.sagan.SAGANConfig`'s fields and are validated by it, so its
errors name the key as it is written here. Each key's default has one home: the keys a profile sizes
(`PROFILE_KEYS`: steps, batch_size, width, learning rates, ...) take the values of the profile's run
preset (`minisagan.profiles.RunPreset`, through `profile_preset`), every other key its default below.
Layers, later winning: those defaults, a named preset (``presets/*.toml``), a config file, the flags.

    TrainConfig.for_profile("cpu", steps=500)     # a profile's preset with overrides
    TrainConfig.from_file("run.toml", lr_d=4e-4)  # a file (.toml or .json) with overrides

Unknown keys and impossible values raise `ConfigError` naming the key.
"""

import dataclasses
import difflib
import json
import tomllib
from importlib import resources
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import ConfigError
from ..profiles import PROFILES, RunPreset, active_profile

def on_shapes(data: str) -> bool:
    """``data`` names the built-in mirror shapes, not a folder."""
    return data == "shapes"


LOSS_NAMES = ("hinge", "ns")
MODELS = ("sagan", "toygan")
AMP_MODES = ("none", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs. Units: learning rates per step, ``*_every`` in steps.

    A key whose default is None is one the profile sizes: left out, it takes the value of
    ``profile``'s record (`profile_preset`), so ``TrainConfig(profile="smoke").steps`` is smoke's."""

    profile: str = field(default_factory=active_profile)  # $MINISAGAN_PROFILE, else by the hardware
    model: str = "sagan"  # SAGAN (Chapters 4 and 6) or "toygan", Chapter 1's small GAN
    data: str = "shapes"  # "shapes" (built-in, `on_shapes`) or the path of an ImageFolder-style folder
    data_size: int | None = None  # number of built-in images (ignored for a folder)
    resolution: int = 32
    z_dim: int = 64
    width: int | None = None  # the channel multiplier (the official code's ch); the toy GAN's widest-resolution channels
    # SAGAN's architecture (Chapter 4); the toy GAN ignores these
    conditional: bool = True  # class-conditional G (CBN) and projection D; classes come from the data
    attention: int = 16  # feature resolution of the attention block in G and D; 0: none
    attention_kind: str = "attention"  # or "residual": a residual block in its place (Table 1)
    official_attention: bool = True  # the official code's pooled block (Chapter 3)
    sn_g: bool = True  # spectral norm on G (Figure 3's baseline has it on D only)
    sn_d: bool = True
    # the optimization (Chapter 6)
    batch_size: int | None = None  # the global batch: split evenly over processes under torchrun
    steps: int | None = None  # generator updates
    n_dis: int = 1  # discriminator updates per generator update (1:1 in the paper)
    loss: str = "hinge"
    lr_g: float | None = None  # the paper's TTUR: G at 1e-4, D 4x faster (the profiles' own: `PROFILES`)
    lr_d: float | None = None
    betas: tuple[float, float] = (0.0, 0.9)
    ema_decay: float | None = None  # exponential moving average of G's weights; 0: none
    ema_start: int | None = None  # the average copies G until this step
    amp: str | None = None  # "none" or "bf16": bfloat16 autocast for the forward passes
    compile: bool | None = None  # torch.compile G and D (falls back to eager if compiling fails)
    sync_bn: bool = True  # under torchrun on GPUs: G's batch norm over the global batch (CPUs: per process)
    seed: int = 0
    # what the run writes
    log_every: int | None = None
    sample_every: int | None = None
    checkpoint_every: int | None = None
    keep_every: int = 0  # also keep the checkpoint of every K-th step in checkpoints/ (0: only the latest)
    eval_every: int | None = None  # domain FID / KID and consistency, and at the last step; 0: never
    eval_samples: int | None = None  # images per set for the metrics (FID on shape features needs 128+)
    inception_weights: str = ""  # path of pt_inception-2015-12-05 weights: adds the paper's metrics
    num_workers: int | None = None  # data loader processes
    device: str = "auto"  # "auto", "cpu", "cuda" or "cuda:N" (under torchrun: each process's own GPU)
    run_dir: str = "runs/default"

    def __post_init__(self):
        if not isinstance(self.profile, str) or self.profile not in PROFILES:  # first: it sizes the rest
            raise ConfigError(f"config key 'profile': must be one of {', '.join(PROFILES)} (got {self.profile!r})")
        for key, value in profile_preset(self.profile).items():
            if getattr(self, key) is None:
                object.__setattr__(self, key, value)
        # Coerce what JSON/TOML and the command line hand over (lists, ints for floats).
        for key, coerce, what in (("betas", lambda v: tuple(float(b) for b in v), "two numbers"),
                                  ("lr_g", float, "a number"), ("lr_d", float, "a number"),
                                  ("ema_decay", float, "a number")):
            try:
                object.__setattr__(self, key, coerce(getattr(self, key)))
            except (TypeError, ValueError):
                raise ConfigError(f"config key {key!r}: must be {what} (got {getattr(self, key)!r})") from None
        self._validate()

    def _validate(self):
        def fail(key, message):
            raise ConfigError(f"config key {key!r}: {message} (got {getattr(self, key)!r})")

        def is_int(value):
            return isinstance(value, int) and not isinstance(value, bool)

        for key in ("model", "data", "attention_kind", "loss", "amp", "inception_weights", "device",
                    "run_dir"):
            if not isinstance(getattr(self, key), str):
                fail(key, "must be a string")
        for key in ("conditional", "official_attention", "sn_g", "sn_d", "compile", "sync_bn"):
            if not isinstance(getattr(self, key), bool):
                fail(key, "must be true or false")
        if not self.data.strip():
            fail("data", "must be 'shapes' (the built-in data) or the path of an image folder or a prepared store")
        if self.model not in MODELS:
            fail("model", f"must be one of {', '.join(MODELS)}")
        if self.loss not in LOSS_NAMES:
            fail("loss", f"must be one of {', '.join(LOSS_NAMES)}")
        if self.amp not in AMP_MODES:
            fail("amp", f"must be one of {', '.join(AMP_MODES)}")
        for key in ("data_size", "batch_size", "steps", "n_dis", "log_every", "sample_every",
                    "checkpoint_every", "eval_samples"):
            value = getattr(self, key)
            if not is_int(value) or value < 1:
                fail(key, "must be a positive integer")
        for key in ("num_workers", "eval_every", "ema_start", "keep_every"):
            if not is_int(getattr(self, key)) or getattr(self, key) < 0:
                fail(key, "must be a non-negative integer")
        if self.keep_every % self.checkpoint_every:
            fail("keep_every", f"must be a multiple of checkpoint_every ({self.checkpoint_every}): checkpoints are "
                               "kept from those written")
        self.sagan_config(num_classes=0)  # the model's keys, checked where they are defined
        if not 0 <= self.ema_decay < 1:
            fail("ema_decay", "must be in [0, 1) (0: no average)")
        if not is_int(self.seed):
            fail("seed", "must be an integer")
        for key in ("lr_g", "lr_d"):
            if not 0 < getattr(self, key) < 1:
                fail(key, "must be in (0, 1)")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            fail("betas", "must be two numbers in [0, 1)")
        if not self.run_dir.strip():
            fail("run_dir", "must name a folder")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            fail("device", "must be 'auto', 'cpu', 'cuda' or 'cuda:N'")

    def sagan_config(self, num_classes: int):
        """The SAGANConfig of this run (Chapter 4) for data with ``num_classes`` classes (0 when the
        run is unconditional). The toy GAN reads only its resolution, width and z_dim."""
        from ..sagan import SAGANConfig

        model_keys = {key: getattr(self, key) for key in MODEL_KEYS}
        if self.model == "toygan":
            model_keys["attention"] = 0
        return SAGANConfig(num_classes=num_classes if self.conditional else 0, **model_keys)

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """Build from a mapping; an unknown key is an error that names it (and the nearest known)."""
        for key in values:
            if key not in cls.keys():
                close = difflib.get_close_matches(key, cls.keys(), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(cls.keys())}"
                raise ConfigError(f"unknown config key {key!r}{hint}")
        try:
            return cls(**values)
        except TypeError as err:  # a value of the wrong type that comparison trips over
            raise ConfigError(f"bad config value: {err}") from None

    @classmethod
    def for_profile(cls, profile: str | None = None, *, preset: str | None = None, **overrides) -> "TrainConfig":
        """The sizes of a profile (default: the one ``preset`` names, else the active one: what
        ``minisagan train`` without flags runs), then the named ``preset``'s keys (`preset_values`),
        then ``overrides`` on top."""
        recipe = preset_values(preset) if preset else {}
        profile = profile or recipe.pop("profile", None) or active_profile()
        recipe.pop("profile", None)  # the profile asked for wins over the preset's
        if recipe.get("data") == "" and not overrides.get("data"):  # a preset that leaves the data to the user
            raise ConfigError(f"config key 'data': the {preset} preset trains on data you prepare (Chapter 7): give "
                              f"--data STORE, a folder written by `minisagan prepare`, or --data shapes to train "
                              "it on the built-in shapes")
        return cls.from_dict({"profile": profile, **recipe, **overrides})  # the profile fills in the rest

    @classmethod
    def from_file(cls, path: str | Path, *, preset: str | None = None, **overrides) -> "TrainConfig":
        """Read a .toml or .json file. A ``profile`` key in it picks the profile the rest overrides;
        a named ``preset`` lies between the profile and the file."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist")
        if path.suffix not in (".toml", ".json"):
            raise ConfigError(f"config file {str(path)!r}: write it as .toml or .json (the name must end so)")
        try:
            text = path.read_text(encoding="utf-8")
            values = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except UnicodeDecodeError:
            raise ConfigError(f"config file {str(path)!r} is not UTF-8 text") from None
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
            raise ConfigError(f"config file {str(path)!r} is not valid {path.suffix[1:].upper()}: {err}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"config file {str(path)!r} must hold a table of key = value pairs")
        values = {key: value for key, value in values.items() if key not in RECORDED}  # a run's config.json
        values = {**values, **overrides}
        return cls.for_profile(values.pop("profile", None), preset=preset, **values)

    def replace(self, **changes) -> "TrainConfig":
        return self.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict:
        values = dataclasses.asdict(self)
        values["betas"] = list(self.betas)
        return values

    @property
    def on_shapes(self) -> bool:
        """The run trains on the built-in mirror shapes (so the shape-feature metrics apply)."""
        return on_shapes(self.data)


# What may change when a run resumes: nothing that shapes the networks, the data or the noise (the speed
# switches amp and compile change only rounding: a run that turned NaN under bf16 may go on in float32).
RESUMABLE = ("steps", "lr_g", "lr_d", "log_every", "sample_every", "checkpoint_every", "keep_every", "eval_every",
             "eval_samples", "device", "num_workers", "inception_weights", "amp", "compile")
# What a run's config.json records beside its settings; a config file may hold it and it is ignored.
RECORDED = ("world_size",)
MODEL_KEYS = ("resolution", "width", "z_dim", "attention", "attention_kind", "official_attention", "sn_g", "sn_d")
# The keys whose default is the profile's run preset (`profile_preset`); TrainConfig gives them none of its own.
PROFILE_KEYS = tuple(field.name for field in fields(RunPreset))


def profile_preset(profile: str) -> dict:
    """What a profile trains by default: the paper's recipe (TrainConfig's defaults: conditional
    SAGAN, attention, SN on G and D, 1:1) with the sizes, learning rates and switches of the profile's
    run preset (`minisagan.profiles.RunPreset`); the cpu profile's rates and average of G depart from
    the paper's TTUR (``--preset paper`` restores its optimization)."""
    return asdict(PROFILES[profile].run)


PRESETS: dict[str, dict] = {name: profile_preset(name) for name in PROFILES}


def preset_names() -> list[str]:
    """The named presets shipped with the package (``minisagan/run/presets/*.toml``)."""
    return sorted(entry.name.removesuffix(".toml") for entry in resources.files(__package__).joinpath("presets").iterdir()
                  if entry.name.endswith(".toml"))


def preset_values(name: str) -> dict:
    """The keys of the named preset: ``paper`` (the paper's optimization at the profile's size) or
    ``imagenet128`` (the paper's ImageNet experiment, Chapter 7)."""
    if name not in preset_names():
        raise ConfigError(f"preset {name!r} does not exist; choose one of {', '.join(preset_names())}")
    return tomllib.loads(resources.files(__package__).joinpath("presets", f"{name}.toml").read_text(encoding="utf-8"))
