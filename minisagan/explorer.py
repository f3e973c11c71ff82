"""Where a trained SAGAN's attention looks (the paper's Figures 1 and 5), and an explorer to point at
any position: as a figure, as an ipywidgets control in Jupyter, and as one self-contained piece of
HTML and JavaScript for the built book, where no kernel runs and nothing is loaded from the network.

Maps are ``beta`` rows (Chapter 3's `attention_maps`) of every query position of the last attention
block of G (on its own features while it generates) and of D (on the generated image), shaped
``[B, H, W, Hk, Wk]``: query grid H x W, attended grid Hk x Wk (H/2 x W/2 in the official variant).
"""

import base64
import io
import json
import os
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from .attention import SelfAttention, attention_maps

QUERY_COLOURS = ("red", "cyan", "yellow", "lime", "magenta", "orange")
STATIC_ENV = "MINISAGAN_STATIC"  # set by the book builds and the tests: no live widgets, figures instead


def live_widgets() -> bool:
    """True where a reader's kernel can drive widgets: not in the smoke profile, not under ``$MINISAGAN_STATIC``
    (the book's builds set it: a widget in a static page would show nothing), and ipywidgets installed."""
    from .profiles import active_profile

    if os.environ.get(STATIC_ENV) or active_profile() == "smoke":
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class Maps:
    images: torch.Tensor  # [B, 3, R, R] in [0, 1]
    maps: dict[str, torch.Tensor]  # network name -> [B, H, W, Hk, Wk]; each query's map sums to 1

    def query_to_feature(self, name: str, row: int, col: int) -> tuple[int, int]:
        """An image pixel (row, col) -> the query cell of ``name``'s attention grid that covers it."""
        H, W = self.maps[name].shape[1:3]
        R = self.images.shape[-1]
        return row * H // R, col * W // R

    def keys(self, name: str) -> int:
        """The number of attended cells of ``name``'s block: a uniform map gives each 1 / keys."""
        return self.maps[name].shape[-1] * self.maps[name].shape[-2]

    def peak(self, name: str) -> float:
        """The largest weight of any of ``name``'s maps, in times uniform (1: attends to all alike)."""
        return float(self.maps[name].max()) * self.keys(name)

    def upsampled(self, name: str, index: int, row: int, col: int) -> torch.Tensor:
        """The map of the query at image pixel (row, col), bilinearly upsampled to image size [R, R]."""
        r, c = self.query_to_feature(name, row, col)
        R = self.images.shape[-1]
        beta = self.maps[name][index, r, c][None, None]
        return F.interpolate(beta, size=(R, R), mode="bilinear", align_corners=False)[0, 0]


def _last_block_input(model: torch.nn.Module, *inputs) -> tuple[torch.Tensor, torch.Tensor, SelfAttention]:
    blocks = [m for m in model.modules() if isinstance(m, SelfAttention)]
    if not blocks:
        raise ValueError(f"{type(model).__name__} has no attention block (attention = 0 or a residual block there)")
    captured = {}
    hook = blocks[-1].register_forward_hook(lambda module, args, out: captured.update(x=args[0].detach()))
    try:
        out = model(*inputs)
    finally:
        hook.remove()
    return out, captured["x"], blocks[-1]


def every_query(block: SelfAttention, x: torch.Tensor) -> torch.Tensor:
    """beta for every query position of x [B, C, H, W] -> [B, H, W, Hk, Wk]."""
    H, W = x.shape[2:]
    maps = attention_maps(block, x, [(r, c) for r in range(H) for c in range(W)])  # [B, H*W, Hk, Wk]
    return maps.reshape(x.shape[0], H, W, *maps.shape[2:])


def query_dependence(maps: Maps, name: str, index: int) -> float:
    """How much ``name``'s map depends on its query, for image ``index``: the total-variation distance
    (half the L1 distance, 0 to 1) between the maps of two query cells, averaged over every pair of
    distinct cells. 0: every query sees the same map; 1: no two queries share any attended cell."""
    flat = maps.maps[name][index].reshape(-1, maps.keys(name)).double()  # [H*W queries, keys]
    distances = torch.cdist(flat, flat, p=1) / 2
    n = len(flat)
    return float(distances.sum() / (n * (n - 1)))


@torch.no_grad()
def generated_maps(G: torch.nn.Module, D: torch.nn.Module | None, z: torch.Tensor, y: torch.Tensor | None) -> Maps:
    """Generate images from z (and classes y), and every query's map in G's and D's last attention block."""
    was = (G.training, D.training if D is not None else None)
    G.eval()
    try:
        fake, x_g, block_g = _last_block_input(G, z, y)
        maps = {"G": every_query(block_g, x_g).float().cpu()}
        if D is not None:
            D.eval()
            _, x_d, block_d = _last_block_input(D, fake, y)
            maps["D"] = every_query(block_d, x_d).float().cpu()
    finally:
        G.train(was[0])
        if D is not None:
            D.train(was[1])
    return Maps(((fake.float().cpu() + 1) / 2).clamp(0, 1), maps)


def pick_queries(image: torch.Tensor) -> list[tuple[int, int]]:
    """Three query pixels of a generated image [3, R, R] in [0, 1]: the brightest point of the left
    half (an object), its mirror image (where the twin should be), and the dark point (no brighter
    than the median) farthest from both, at least R/8 from the border (the background)."""
    R = image.shape[-1]
    bright = F.avg_pool2d(image.max(0).values[None, None], 3, stride=1, padding=1, count_include_pad=False)[0, 0]
    left = bright[:, : R // 2]
    r, c = divmod(int(left.argmax()), R // 2)
    rows, cols = torch.meshgrid(torch.arange(R), torch.arange(R), indexing="ij")
    distance = torch.minimum((rows - r) ** 2 + (cols - c) ** 2, (rows - r) ** 2 + (cols - (R - 1 - c)) ** 2).float()
    inside = (rows >= R // 8) & (rows < R - R // 8) & (cols >= R // 8) & (cols < R - R // 8)  # not on the border
    dark = bright <= bright[inside].median()
    candidates = inside & dark if (inside & dark).any() else inside
    br, bc = divmod(int(torch.where(candidates, distance, -1.0).argmax()), R)
    return [(r, c), (r, R - 1 - c), (br, bc)]


def overlay_figure(maps: Maps, queries, names=("G", "D"), indices=None) -> Figure:
    """Figures 1 and 5 for these images: per image, the image with coloured query points, then for each
    network and query the map upsampled to image size over the image (query marked). Every map is
    drawn on one scale, in times uniform (the weight times the number of attended cells: 1 where a
    query attends to every cell alike), from 0 (black) to the largest value of any map shown
    (bright); each title gives that map's own maximum. ``queries``: one list of (row, col) image
    pixels for every image, or a list per image."""
    indices = list(range(maps.images.shape[0])) if indices is None else indices
    per_image = queries if queries and isinstance(queries[0], list) else [queries] * maps.images.shape[0]
    names = [n for n in names if n in maps.maps]
    cols = 1 + len(names) * len(per_image[indices[0]])
    fig = plt.figure(figsize=(1.5 * cols, 1.6 * len(indices)))  # pyplot: a notebook shows it
    axes = fig.subplots(len(indices), cols, squeeze=False)
    R = maps.images.shape[-1]
    shown = {(name, index, q): maps.upsampled(name, index, r, c) * maps.keys(name)  # times uniform
             for index in indices for q, (r, c) in enumerate(per_image[index]) for name in names}
    top = max(float(beta.max()) for beta in shown.values())
    for row, index in enumerate(indices):
        image = maps.images[index].permute(1, 2, 0).numpy()
        queries = per_image[index]
        axes[row, 0].imshow(image)
        for q, (r, c) in enumerate(queries):
            axes[row, 0].plot(c, r, "o", ms=5, mfc=QUERY_COLOURS[q % 6], mec="black")
        for n, name in enumerate(names):
            for q, (r, c) in enumerate(queries):
                ax = axes[row, 1 + n * len(queries) + q]
                ax.imshow(image * 0.45)
                beta = shown[name, index, q]
                ax.imshow(beta.numpy(), cmap="inferno", alpha=0.75, vmin=0, vmax=top,
                          extent=(-0.5, R - 0.5, R - 0.5, -0.5))
                ax.plot(c, r, "o", ms=4, mfc=QUERY_COLOURS[q % 6], mec="white")
                peak = float(maps.maps[name][index][maps.query_to_feature(name, r, c)].max()) * maps.keys(name)
                ax.set_title((f"{name}, {QUERY_COLOURS[q % 6]} query\n" if row == 0 else "") + f"max {peak:.1f}x uniform",
                             fontsize=7)
        axes[row, 0].set_title("image, queries" if row == 0 else "", fontsize=7)
        for ax in axes[row]:
            ax.set_axis_off()
    fig.suptitle(f"one scale for every map: black 0, brightest {top:.1f} times uniform", fontsize=8)
    fig.tight_layout()
    return fig


def _png(image: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray((image * 255).round().astype(np.uint8)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def quantized(maps: Maps, name: str) -> np.ndarray:
    """What the HTML explorer embeds: ``name``'s maps on one scale, 255 at the largest weight of any
    of its maps (`Maps.peak`), as uint8 [B, H, W, Hk, Wk]."""
    m = maps.maps[name].numpy()
    return np.round(255 * m / max(float(m.max()), 1e-12)).astype(np.uint8)


def explorer_html(maps: Maps, labels: list[str], element_id: str = "minisagan-explorer", scale: int = 8) -> str:
    """One self-contained block of HTML and JavaScript: pick an image, point at it, see each network's
    map of that query over the image. Everything is embedded (base64 PNGs and uint8 maps)."""
    R = maps.images.shape[-1]
    data = {"size": R, "scale": scale, "labels": labels,
            "images": [_png(im.permute(1, 2, 0).numpy()) for im in maps.images],
            "maps": {name: {"shape": list(m.shape[1:]), "peak": round(maps.peak(name), 2),
                            "data": base64.b64encode(quantized(maps, name).tobytes()).decode()}
                     for name, m in maps.maps.items()}}
    return _TEMPLATE.replace("ELEMENT", element_id).replace("DATA", json.dumps(data))


_TEMPLATE = """<div id="ELEMENT" class="minisagan-explorer" style="font:13px sans-serif">
<div class="choose"></div><div class="views" style="display:flex;gap:14px;flex-wrap:wrap"></div>
<div class="readout" style="margin-top:4px">point at the image (or click) to choose a query</div></div>
<script>(function () {
  const data = DATA, root = document.getElementById("ELEMENT"), S = data.size * data.scale;
  const bytes = {};
  for (const [name, m] of Object.entries(data.maps)) {
    bytes[name] = Uint8Array.from(atob(m.data), ch => ch.charCodeAt(0));
  }
  const images = data.images.map(src => { const im = new Image(); im.src = "data:image/png;base64," + src; return im; });
  const views = {}; let index = 0, query = [Math.floor(data.size / 2), Math.floor(data.size / 4)];
  for (const name of Object.keys(data.maps)) {
    const box = document.createElement("div"), title = document.createElement("div"), canvas = document.createElement("canvas");
    title.textContent = (name === "G" ? "G's last attention block" : "D's attention block (on the image)") +
      ` (one scale: brightest ${data.maps[name].peak}x uniform)`;
    canvas.width = canvas.height = S; canvas.style.cursor = "crosshair";
    box.append(title, canvas); root.querySelector(".views").append(box); views[name] = canvas;
    const pick = ev => { const r = canvas.getBoundingClientRect();
      set(index, Math.floor((ev.clientY - r.top) / r.height * data.size), Math.floor((ev.clientX - r.left) / r.width * data.size)); };
    canvas.addEventListener("mousemove", pick); canvas.addEventListener("click", pick);
  }
  data.labels.forEach((label, i) => { const b = document.createElement("button"); b.textContent = label;
    b.onclick = () => set(i, query[0], query[1]); root.querySelector(".choose").append(b); });
  function draw(name) {
    const [H, W, Hk, Wk] = data.maps[name].shape, canvas = views[name], ctx = canvas.getContext("2d");
    const r = Math.floor(query[0] * H / data.size), c = Math.floor(query[1] * W / data.size);
    const start = (((index * H + r) * W + c) * Hk) * Wk, small = document.createElement("canvas");
    small.width = Wk; small.height = Hk;
    const sctx = small.getContext("2d"), pixels = sctx.createImageData(Wk, Hk);
    let best = 0, at = 0;
    for (let k = 0; k < Hk * Wk; k++) { const v = bytes[name][start + k];
      if (v > best) { best = v; at = k; }
      pixels.data[4 * k] = 255; pixels.data[4 * k + 1] = Math.round(v * 0.8); pixels.data[4 * k + 2] = 0; pixels.data[4 * k + 3] = Math.round(v * 0.85); }
    sctx.putImageData(pixels, 0, 0);
    ctx.imageSmoothingEnabled = false; ctx.globalAlpha = 1; ctx.drawImage(images[index], 0, 0, S, S);
    ctx.fillStyle = "rgba(0,0,0,0.55)"; ctx.fillRect(0, 0, S, S);
    ctx.imageSmoothingEnabled = true; ctx.drawImage(small, 0, 0, S, S);
    ctx.strokeStyle = "cyan"; ctx.lineWidth = 2; const cell = S / data.size;
    ctx.strokeRect(query[1] * cell, query[0] * cell, cell, cell);
    canvas.dataset.best = [Math.floor(at / Wk), at % Wk].join(",");
    return [Math.floor(at / Wk), at % Wk, Hk];
  }
  function set(i, row, col) {
    index = i; query = [Math.max(0, Math.min(data.size - 1, row)), Math.max(0, Math.min(data.size - 1, col))];
    const parts = [];
    for (const name of Object.keys(views)) { const [br, bc, Hk] = draw(name);
      parts.push(`${name}: most attended cell (${br}, ${bc}) of ${Hk}x${Hk}`); }
    root.dataset.state = JSON.stringify({index, query});
    root.querySelector(".readout").textContent = `${data.labels[index]}, query pixel (${query[0]}, ${query[1]}): ` + parts.join("; ");
  }
  root.minisaganSet = set;
  // draw once the images are decoded, in the state a reader (or a script) may already have set
  Promise.all(images.map(im => im.decode())).then(() => set(index, query[0], query[1]));
})();</script>"""


def explorer_widget(G, D, num_classes: int, z_dim: int, device="cpu"):
    """The live explorer for Jupyter: sliders for the query pixel, the class and the noise seed."""
    import ipywidgets as widgets
    from IPython.display import display

    size = G.config.resolution
    row = widgets.IntSlider(value=size // 2, min=0, max=size - 1, description="query row")
    col = widgets.IntSlider(value=size // 4, min=0, max=size - 1, description="query col")
    label = widgets.IntSlider(value=0, min=0, max=max(num_classes - 1, 0), description="class")
    seed = widgets.IntSlider(value=0, min=0, max=99, description="noise seed")
    out = widgets.Output()

    def redraw(*_):
        z = torch.randn(1, z_dim, generator=torch.Generator().manual_seed(seed.value)).to(device)
        y = torch.tensor([label.value], device=device) if num_classes else None
        maps = generated_maps(G, D, z, y)
        with out:
            out.clear_output(wait=True)
            overlay_figure(maps, [(row.value, col.value)])
            plt.show()

    for control in (row, col, label, seed):
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([row, col]), widgets.HBox([label, seed]), out])
