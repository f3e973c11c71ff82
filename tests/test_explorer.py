"""Chapter 8's attention maps and explorer, against an independent computation of beta, and the static
explorer checked as a reader would, in headless Chromium with the network off."""

import base64
import io
import json
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from minisagan.attention import SelfAttention
from minisagan.explorer import (Maps, every_query, explorer_html, generated_maps, overlay_figure, pick_queries,
                                quantized, query_dependence)
from minisagan.sagan import Discriminator, Generator, SAGANConfig


def beta_by_einsum(block: SelfAttention, x: torch.Tensor) -> torch.Tensor:
    """eq. (1) with explicit weights: beta[b, j, i] = softmax_i f(x_i)^T g(x_j), keys pooled if official."""
    Wf, Wg = (conv.normalized_weight().flatten(1) for conv in (block.f, block.g))
    fx = torch.einsum("dc,bchw->bdhw", Wf, x)
    gx = torch.einsum("dc,bchw->bdhw", Wg, x).flatten(2)
    if block.official:
        fx = F.max_pool2d(fx, 2)
    s = torch.einsum("bdi,bdj->bji", fx.flatten(2), gx)
    return s.softmax(dim=-1)


@pytest.mark.parametrize("official", [False, True])
def test_every_query_is_the_row_of_beta_of_that_position(official):
    torch.manual_seed(0)
    block = SelfAttention(16, official=official).eval()
    x = torch.randn(2, 16, 6, 8)
    maps = every_query(block, x)  # [B, H, W, Hk, Wk]
    keys = (3, 4) if official else (6, 8)
    assert maps.shape == (2, 6, 8, *keys)
    expected = beta_by_einsum(block, x).reshape(2, 6, 8, *keys)
    assert torch.allclose(maps, expected, atol=1e-6)
    assert torch.allclose(maps.sum((-1, -2)), torch.ones(2, 6, 8), atol=1e-5)


def test_generated_maps_are_those_of_gs_and_ds_last_blocks():
    torch.manual_seed(1)
    config = SAGANConfig(resolution=32, width=16, z_dim=16, num_classes=3, attention=16)
    G, D = Generator(config).train(), Discriminator(config).train()
    for block in (G.blocks[2], D.blocks[1]):
        torch.nn.init.constant_(block.gamma, 0.3)
    z, y = torch.randn(2, 16), torch.tensor([0, 2])
    maps = generated_maps(G, D, z, y)
    assert G.training and D.training  # restored
    with torch.no_grad():
        G.eval(), D.eval()
        fake = G(z, y)
        h = G.input(z).view(2, -1, 4, 4)
        h = G.blocks[1](G.blocks[0](h, y), y)  # the input of G's attention block
        d = D.blocks[0](fake)  # the input of D's
    assert torch.allclose(maps.images, ((fake + 1) / 2).clamp(0, 1), atol=1e-6)
    assert torch.allclose(maps.maps["G"], every_query(G.blocks[2], h), atol=1e-6)
    assert torch.allclose(maps.maps["D"], every_query(D.blocks[1], d), atol=1e-6)
    assert maps.query_to_feature("G", 31, 0) == (15, 0)
    assert tuple(maps.upsampled("D", 1, 5, 5).shape) == (32, 32)


def test_a_model_without_attention_says_so():
    G = Generator(SAGANConfig(resolution=32, width=8, z_dim=8, num_classes=0, attention=0))
    with pytest.raises(ValueError, match="has no attention block"):
        generated_maps(G, None, torch.randn(1, 8), None)


def test_queries_land_on_the_object_its_twin_and_the_background():
    image = torch.zeros(3, 32, 32)
    image[0, 10:15, 4:9] = 1.0  # an object left of centre, its twin mirrored on the right
    image[0, 10:15, 23:28] = 0.9
    image[:, 24:, :] = 0.05  # a dim floor; the background is the dark rest
    (r, c), (tr, tc), (br, bc) = pick_queries(image)
    assert 10 <= r < 15 and 4 <= c < 9
    assert (tr, tc) == (r, 31 - c)
    assert image[:, br, bc].max() == 0 and min(abs(br - r), abs(bc - c)) >= 0


def _tiny_maps() -> Maps:
    torch.manual_seed(2)
    raw = torch.rand(2, 4, 4, 2, 2) ** 4
    return Maps(torch.zeros(2, 3, 16, 16), {"G": raw / raw.sum((-1, -2), keepdim=True)})


def test_the_static_explorer_embeds_the_maps_and_loads_nothing():
    maps = _tiny_maps()
    html = explorer_html(maps, ["a", "b"], element_id="x1")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    data = json.loads(re.search(r"const data = (\{.*?\}), root", html, re.S).group(1))
    embedded = np.frombuffer(base64.b64decode(data["maps"]["G"]["data"]), dtype=np.uint8).reshape(2, 4, 4, 2, 2)
    assert np.array_equal(embedded, quantized(maps, "G"))
    m = maps.maps["G"].numpy()
    assert np.array_equal(embedded, np.round(255 * m / m.max()).astype(np.uint8))  # one scale for every query
    assert embedded.max() == 255 and embedded.reshape(-1, 4).max(1).min() < 255
    assert data["maps"]["G"]["peak"] == round(float(m.max()) * 4, 2)  # times uniform: 4 attended cells
    assert overlay_figure(maps, [(3, 3), (12, 12)], names=("G",)).axes  # draws without D


def test_the_overlay_shares_one_scale_in_times_uniform_and_titles_each_maximum():
    maps = _tiny_maps()
    figure = overlay_figure(maps, [(3, 3), (12, 12)], names=("G",))
    panels = [ax for ax in figure.axes if len(ax.images) == 2]  # the image, then the map over it
    scales = {ax.images[1].get_clim() for ax in panels}
    expected_top = max(float(maps.upsampled("G", i, r, c).max()) * 4 for i in range(2) for r, c in ((3, 3), (12, 12)))
    assert len(scales) == 1 and abs(scales.pop()[1] - expected_top) < 1e-6
    r, c = maps.query_to_feature("G", 12, 12)
    assert panels[1].get_title().endswith(f"max {float(maps.maps['G'][0, r, c].max()) * 4:.1f}x uniform")


def test_query_dependence_by_hand():
    uniform = torch.full((1, 2, 1, 2, 2), 0.25)
    assert query_dependence(Maps(torch.zeros(1, 3, 8, 8), {"G": uniform}), "G", 0) == 0  # every query alike
    one_hot = torch.zeros(1, 2, 1, 2, 2)
    one_hot[0, 0, 0, 0, 0] = one_hot[0, 1, 0, 1, 1] = 1  # two queries, disjoint cells
    assert query_dependence(Maps(torch.zeros(1, 3, 8, 8), {"G": one_hot}), "G", 0) == 1
    half = torch.tensor([[0.5, 0.5], [0.0, 0.0]]), torch.tensor([[0.5, 0.0], [0.5, 0.0]])
    maps = Maps(torch.zeros(1, 3, 8, 8), {"G": torch.stack(half).reshape(1, 2, 1, 2, 2)})
    assert abs(query_dependence(maps, "G", 0) - 0.5) < 1e-12  # half the mass moved: 0.5 * (0.5 + 0.5)



def test_a_choice_made_before_the_images_decode_is_kept(tmp_path, chromium):
    """The first drawing waits for the images; it must draw the state a reader set meanwhile, not
    reset it to the first image (seen under load in CI)."""
    from minisagan.bookbuild.browser import open_page

    page = tmp_path / "early.html"
    html = explorer_html(_tiny_maps(), ["a", "b"], element_id="x1", scale=8)
    # runs as soon as the explorer's own script has, before any image can have decoded
    page.write_text(f"<html><body>{html}<script>document.getElementById('x1').minisaganSet(1, 13, 2);"
                    "</script></body></html>")
    state = json.loads(re.search(r'data-state="([^"]*)"', open_page(page)).group(1).replace("&quot;", '"'))
    assert state == {"index": 1, "query": [13, 2]}


def test_the_explorer_in_a_browser_shows_the_map_the_library_computes(tmp_path, chromium):
    from PIL import Image

    from minisagan.bookbuild.browser import open_page

    maps = _tiny_maps()
    page = tmp_path / "explorer.html"
    html = explorer_html(maps, ["a", "b"], element_id="x1", scale=8)
    page.write_text(f"<html><body>{html}</body></html>")
    grabbed = ("const c = document.querySelector('#x1 canvas'); document.body.dataset.png = c.toDataURL();")
    for index, (row, col) in ((1, (13, 2)), (0, (0, 9))):
        dom = open_page(page, script=f"document.getElementById('x1').minisaganSet({index}, {row}, {col}); {grabbed}")
        state = json.loads(re.search(r'data-state="([^"]*)"', dom).group(1).replace("&quot;", '"'))
        assert state == {"index": index, "query": [row, col]}
        r, c = maps.query_to_feature("G", row, col)
        best = divmod(int(quantized(maps, "G")[index, r, c].argmax()), 2)
        assert f'data-best="{best[0]},{best[1]}"' in dom
        assert f"most attended cell ({best[0]}, {best[1]})" in dom
        png = re.search(r'data-png="data:image/png;base64,([^"]*)"', dom).group(1)
        shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(png))).convert("RGB")).astype(float)
        # On a black image the canvas is the map alone, drawn at 128 px: green 0.8 v at opacity 0.85 v, so
        # the browser smooths (premultiplied) values that grow as v squared.
        v = torch.from_numpy(quantized(maps, "G")[index, r, c]).float()
        expected = F.interpolate((v ** 2)[None, None], size=(128, 128), mode="bilinear")[0, 0]
        keep = np.zeros((128, 128), dtype=bool)
        keep[8:-8, 8:-8] = True  # away from the edges
        keep[max(0, 8 * row - 3):8 * row + 11, max(0, 8 * col - 3):8 * col + 11] = False  # and the query's cyan box
        correlation = np.corrcoef(shown[..., 1][keep], expected.numpy()[keep])[0, 1]
        assert correlation > 0.9, correlation
