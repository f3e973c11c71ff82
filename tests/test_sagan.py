"""Chapter 4's exported code (minisagan.sagan) against the official 128x128 architecture table written
out as formulas, each block's forward re-computed from its parts with torch.nn.functional, the
projection formula, per-sample conditional batch norm and the SVD."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from minisagan.attention import SelfAttention
from minisagan.sagan import (
    ConditionalBatchNorm2d,
    DBlock,
    Discriminator,
    GBlock,
    Generator,
    SAGANConfig,
    layer_table,
)
from minisagan.spectral_norm import SNConv2d, SNEmbedding, SNLinear, SpectralNorm

pytestmark = pytest.mark.usefixtures("one_thread")

FLOAT32_ATOL = 1e-5  # one float32 computation against the same computation written another way
BN_ATOL = 1e-5  # batch statistics over a few hundred values, float32
UNIT_SIGMA_ATOL = 1e-3  # top singular value of a normalized weight after 1000 power-iteration steps
ORTHOGONAL_ATOL = 1e-5  # W W^T against I, float32
PARAMETER_RTOL = 0.05  # against the official code's "about 42M / 39M"
OFFICIAL_G, OFFICIAL_D = 42e6, 39e6
# The counts of SAGANConfig() as built today (128x128, ch 64, 1000 classes, attention at 32, the
# official pooled attention): a change to the layout changes them.
G_PARAMETERS, D_PARAMETERS = 42_078_852, 39_463_618

Z_DIM, CLASSES, BATCH = 16, 5, 2


def small(resolution=32, **overrides) -> SAGANConfig:
    """A model small enough to run in milliseconds: width 8 keeps every width divisible by 8."""
    return SAGANConfig(**{**dict(resolution=resolution, width=8, z_dim=Z_DIM, num_classes=CLASSES, attention=0),
                          **overrides})


def inputs(config: SAGANConfig, batch=BATCH, seed=0):
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, config.z_dim, generator=generator)
    y = torch.randint(0, config.num_classes, (batch,), generator=generator) if config.num_classes else None
    x = torch.randn(batch, 3, config.resolution, config.resolution, generator=generator)
    return z, y, x


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def effective(layer: nn.Module) -> torch.Tensor:
    """The weight a layer applies: W / sigma(W) for SN layers (stored vectors in eval mode)."""
    return layer.normalized_weight() if isinstance(layer, SpectralNorm) else layer.weight


def conv(layer: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, effective(layer), layer.bias, padding=layer.padding)


def batch_norm(h: torch.Tensor, eps=1e-5) -> torch.Tensor:
    """Training-mode batch norm without affine, from the batch statistics (biased variance)."""
    mean = h.mean((0, 2, 3), keepdim=True)
    var = h.var((0, 2, 3), unbiased=False, keepdim=True)
    return (h - mean) / torch.sqrt(var + eps)


def cbn_by_hand(cbn: ConditionalBatchNorm2d, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """gamma_y * BN(h) + beta_y, one sample at a time."""
    normalized = batch_norm(h, cbn.bn.eps)
    return torch.stack([cbn.gain.weight[c][:, None, None] * normalized[i] + cbn.bias.weight[c][:, None, None]
                        for i, c in enumerate(y.tolist())])


def record_input_shapes(modules):
    """Forward hooks that append each module's input shape to a list; returns (shapes, handles)."""
    shapes = []
    handles = [m.register_forward_hook(lambda m, args, out: shapes.append(tuple(args[0].shape))) for m in modules]
    return shapes, handles


def weight_layers(model: nn.Module):
    """Convolutions, linear layers and embeddings, except CBN's per-class gains and biases."""
    in_cbn = {id(e) for m in model.modules() if isinstance(m, ConditionalBatchNorm2d) for e in m.children()}
    return [m for m in model.modules()
            if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)) and id(m) not in in_cbn]


def all_configurations():
    """Every resolution x every attention place (and none) x both attention kinds."""
    for resolution in (32, 64, 128):
        places = small(resolution).feature_resolutions
        yield pytest.param(resolution, 0, "attention", id=f"{resolution}-none")
        for place in places:
            for kind in ("attention", "residual"):
                yield pytest.param(resolution, place, kind, id=f"{resolution}-{kind}{place}")


# --- shapes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("resolution, attention, kind", list(all_configurations()))
def test_generator_and_discriminator_shapes_at_every_resolution_and_attention_place(resolution, attention, kind):
    config = small(resolution, attention=attention, attention_kind=kind)
    G, D = Generator(config), Discriminator(config)
    z, y, _ = inputs(config)
    images = G(z, y)
    assert images.shape == (BATCH, 3, resolution, resolution)
    assert images.abs().max() <= 1  # tanh
    scores = D(images, y)
    assert scores.shape == (BATCH,)
    assert torch.isfinite(scores).all()


@pytest.mark.parametrize("resolution", [32, 64, 128])
@pytest.mark.parametrize("sn", [True, False], ids=["sn", "no-sn"])
def test_unconditional_models_work_without_labels_and_d_ignores_them(resolution, sn):
    config = small(resolution, num_classes=0, attention=16, sn_g=sn, sn_d=sn)
    G, D = Generator(config).eval(), Discriminator(config).eval()
    assert D.embed is None
    z, _, x = inputs(config)
    images = G(z)
    assert images.shape == (BATCH, 3, resolution, resolution)
    assert images.abs().max() <= 1
    assert torch.equal(G(z), G(z, torch.tensor([3, 1])))  # plain BN: the labels are not looked at
    assert torch.equal(D(x), D(x, torch.tensor([3, 1])))
    assert D(x).shape == (BATCH,)


@pytest.mark.parametrize("sn_g, sn_d", [(False, True), (True, False), (False, False)])
def test_conditional_models_run_with_spectral_norm_off(sn_g, sn_d):
    config = small(64, attention=32, sn_g=sn_g, sn_d=sn_d)
    z, y, _ = inputs(config)
    images = Generator(config)(z, y)
    assert images.shape == (BATCH, 3, 64, 64) and images.abs().max() <= 1
    assert Discriminator(config)(images, y).shape == (BATCH,)


def test_official_attention_off_gives_the_papers_block():
    config = small(32, attention=16, official_attention=False)
    G, D = Generator(config), Discriminator(config)
    blocks = [m for m in list(G.modules()) + list(D.modules()) if isinstance(m, SelfAttention)]
    assert len(blocks) == 2 and not any(b.official for b in blocks)
    z, y, _ = inputs(config)
    assert D(G(z, y), y).shape == (BATCH,)


# --- where attention sits -------------------------------------------------------------------------

PLACES = [pytest.param(r, a, id=f"{r}-at{a}") for r in (32, 64, 128) for a in small(r).feature_resolutions]


@pytest.mark.parametrize("resolution, attention", PLACES)
def test_attention_sits_after_the_block_whose_output_has_the_configured_resolution(resolution, attention):
    config = small(resolution, attention=attention)
    G, D = Generator(config), Discriminator(config)
    z, y, _ = inputs(config)
    for model, block_type, run in ((G, GBlock, lambda: G(z, y)), (D, DBlock, lambda: D(G(z, y).detach(), y))):
        kinds = [type(b) for b in model.blocks]
        assert kinds.count(SelfAttention) == 1
        assert sum(isinstance(m, SelfAttention) for m in model.modules()) == 1
        at = kinds.index(SelfAttention)
        assert at > 0 and kinds[at - 1] is block_type
        attention_inputs, handles = record_input_shapes([model.blocks[at]])
        before_outputs = []
        handles.append(model.blocks[at - 1].register_forward_hook(
            lambda m, args, out: before_outputs.append(tuple(out.shape))))
        with torch.no_grad():
            run()
        for handle in handles:
            handle.remove()
        (shape,) = attention_inputs
        assert shape[2] == shape[3] == attention
        assert before_outputs[-1] == shape
        expected_channels = config.g_channels_at(attention) if model is G else config.d_channels_at(attention)
        assert shape[1] == expected_channels == model.blocks[at].channels


@pytest.mark.parametrize("resolution, attention", PLACES)
def test_residual_kind_puts_a_same_resolution_block_there_and_no_attention(resolution, attention):
    config = small(resolution, attention=attention, attention_kind="residual")
    G, D = Generator(config), Discriminator(config)
    assert not any(isinstance(m, SelfAttention) for m in list(G.modules()) + list(D.modules()))
    g_plain = [i for i, b in enumerate(G.blocks) if not b.upsample]
    d_plain = [i for i, b in enumerate(D.blocks) if not b.downsample]
    assert len(g_plain) == 1 and g_plain[0] > 0
    assert len(d_plain) == 2 and d_plain[1] == len(D.blocks) - 1  # the stand-in, and D's last block
    g_at, d_at = g_plain[0], d_plain[0]
    z, y, _ = inputs(config)
    g_in, g_handles = record_input_shapes([G.blocks[g_at]])
    d_in, d_handles = record_input_shapes([D.blocks[d_at]])
    with torch.no_grad():
        D(G(z, y), y)
    for handle in g_handles + d_handles:
        handle.remove()
    assert g_in[0][1:] == (config.g_channels_at(attention), attention, attention)
    assert d_in[0][1:] == (config.d_channels_at(attention), attention, attention)


def test_without_attention_the_block_lists_are_the_plain_residual_stacks():
    config = small(128)
    G, D = Generator(config), Discriminator(config)
    assert [type(b) for b in G.blocks] == [GBlock] * 5 and all(b.upsample for b in G.blocks)
    assert [type(b) for b in D.blocks] == [DBlock] * 6
    assert [b.downsample for b in D.blocks] == [True] * 5 + [False]
    assert [b.first for b in D.blocks] == [True] + [False] * 5


# --- the paper's model ----------------------------------------------------------------------------

def official_table_parameters(ch=64, z_dim=128, classes=1000):
    """Parameters of the official 128x128 feat32 G and D (SAGAN_SPEC.md's table), by formula."""
    def conv(c_in, c_out, k, bias=True):
        return c_in * c_out * k * k + (c_out if bias else 0)

    def attention(C):  # f, g: C -> C/8; h: C -> C/2; out: C/2 -> C; no biases; gamma
        return 2 * conv(C, C // 8, 1, False) + conv(C, C // 2, 1, False) + conv(C // 2, C, 1, False) + 1

    g = z_dim * 16 * ch * 16 + 16 * ch * 16  # SN linear z -> 16ch x 4 x 4, with bias
    widths = [16, 16, 8, 4, 2, 1]  # 4x4, then up-blocks to 8, 16, 32, 64, 128
    for stage, (a, b) in enumerate(zip(widths, widths[1:]), start=1):
        c_in, c_out = a * ch, b * ch
        g += 2 * classes * c_in + conv(c_in, c_out, 3) + 2 * classes * c_out + conv(c_out, c_out, 3)
        g += conv(c_in, c_out, 1)  # shortcut
        if stage == 3:  # output at 32x32, 4ch
            g += attention(c_out)
    g += 2 * ch + conv(ch, 3, 3)  # BN (affine), conv3x3 -> 3

    d, c_in = 0, 3
    for stage, m in enumerate([1, 2, 4, 8, 16], start=1):  # outputs at 64, 32, 16, 8, 4
        c_out = m * ch
        d += conv(c_in, c_out, 3) + conv(c_out, c_out, 3) + conv(c_in, c_out, 1)
        if stage == 2:  # output at 32x32, 2ch
            d += attention(c_out)
        c_in = c_out
    d += 2 * conv(c_in, c_in, 3)  # last block, 16ch, no pooling, identity shortcut
    d += c_in + 1 + classes * c_in  # psi, projection embedding
    return g, d


def test_paper_model_parameter_counts_match_the_official_table():
    config = SAGANConfig()
    assert (config.resolution, config.width, config.num_classes, config.attention) == (128, 64, 1000, 32)
    torch.manual_seed(0)
    G, D = Generator(config), Discriminator(config)
    g, d = count(G), count(D)
    assert (g, d) == official_table_parameters()
    assert abs(g / OFFICIAL_G - 1) < PARAMETER_RTOL
    assert abs(d / OFFICIAL_D - 1) < PARAMETER_RTOL
    assert (g, d) == (G_PARAMETERS, D_PARAMETERS)
    assert config.g_channels() == [1024, 1024, 512, 256, 128, 64]
    assert config.d_channels() == [64, 128, 256, 512, 1024, 1024]


# --- projection discriminator ---------------------------------------------------------------------

def test_discriminator_score_is_psi_plus_projection_of_the_features():
    config = small(32, attention=16)
    D = Discriminator(config).eval()
    _, y, x = inputs(config, batch=4)
    with torch.no_grad():
        phi = D.features(x)  # [B, C]
        h = x
        for block in D.blocks:
            h = block(h)
        assert torch.allclose(phi, F.relu(h).sum((2, 3)), atol=FLOAT32_ATOL)
        psi = phi @ effective(D.psi).T + D.psi.bias  # [B, 1]
        projection = (effective(D.embed)[y] * phi).sum(1)  # <e(y), phi(x)>  [B]
        expected = psi.squeeze(1) + projection
        assert torch.allclose(D(x, y), expected, rtol=1e-5, atol=1e-4)
        other = (y + 1) % CLASSES  # the class term really depends on y
        assert not torch.allclose(D(x, other), expected, atol=1e-3)


def test_unconditional_discriminator_score_is_psi_of_the_features():
    config = small(32, num_classes=0)
    D = Discriminator(config).eval()
    _, _, x = inputs(config, batch=4)
    with torch.no_grad():
        phi = D.features(x)
        expected = (phi @ effective(D.psi).T + D.psi.bias).squeeze(1)
        assert torch.allclose(D(x), expected, rtol=1e-5, atol=1e-4)


# --- conditional batch norm -----------------------------------------------------------------------

def test_cbn_at_init_is_batch_norm_without_affine():
    torch.manual_seed(0)
    cbn, bn = ConditionalBatchNorm2d(6, num_classes=3).train(), nn.BatchNorm2d(6, affine=False).train()
    h, y = torch.randn(8, 6, 5, 5) * 3 + 1, torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    assert torch.allclose(cbn(h, y), bn(h), atol=BN_ATOL)
    assert torch.allclose(cbn.bn.running_mean, bn.running_mean) and torch.allclose(cbn.bn.running_var, bn.running_var)


def test_cbn_applies_each_samples_own_class_gain_and_bias():
    torch.manual_seed(0)
    cbn = ConditionalBatchNorm2d(6, num_classes=4)
    with torch.no_grad():
        cbn.gain.weight.copy_(torch.randn(4, 6))
        cbn.bias.weight.copy_(torch.randn(4, 6))
    h, y = torch.randn(7, 6, 3, 3), torch.tensor([3, 0, 0, 2, 1, 3, 2])
    assert torch.allclose(cbn(h, y), cbn_by_hand(cbn, h, y), atol=BN_ATOL)


def test_cbn_gradients_reach_only_the_classes_in_the_batch():
    torch.manual_seed(0)
    cbn = ConditionalBatchNorm2d(6, num_classes=5)
    h, y = torch.randn(4, 6, 3, 3), torch.tensor([1, 3, 3, 1])
    (cbn(h, y) * torch.randn(4, 6, 3, 3)).sum().backward()
    for table in (cbn.gain.weight.grad, cbn.bias.weight.grad):
        assert (table[[0, 2, 4]] == 0).all()
        assert (table[[1, 3]].abs().sum(1) > 0).all()


def test_unconditional_cbn_is_affine_batch_norm():
    cbn = ConditionalBatchNorm2d(6, num_classes=0)
    assert not hasattr(cbn, "gain") and cbn.bn.affine
    assert count(cbn) == 12


# --- spectral normalization -----------------------------------------------------------------------

@pytest.mark.parametrize("sn_g, sn_d", [(True, True), (False, True), (True, False)])
def test_spectral_norm_covers_every_weight_layer_of_the_networks_that_ask_for_it(sn_g, sn_d):
    config = small(64, attention=32, sn_g=sn_g, sn_d=sn_d)
    for model, sn in ((Generator(config), sn_g), (Discriminator(config), sn_d)):
        layers = weight_layers(model)
        assert len(layers) > 10
        for layer in layers:
            assert isinstance(layer, (SNConv2d, SNLinear, SNEmbedding)) == sn, type(layer).__name__
        assert any(isinstance(m, SpectralNorm) for m in model.modules()) == sn
    cbn_tables = [e for m in Generator(config).modules() if isinstance(m, ConditionalBatchNorm2d)
                  for e in m.children() if isinstance(e, nn.Embedding)]
    assert cbn_tables and not any(isinstance(e, SpectralNorm) for e in cbn_tables)


def test_every_normalized_weight_has_top_singular_value_one_after_converging():
    config = small(32, attention=16)
    torch.manual_seed(0)
    G, D = Generator(config).train(), Discriminator(config).train()
    layers = [m for model in (G, D) for m in model.modules() if isinstance(m, SpectralNorm)]
    assert len(layers) == len(weight_layers(G)) + len(weight_layers(D))
    with torch.no_grad():
        for _ in range(1000):  # one vector update per call, as a training-mode forward does
            for layer in layers:
                layer.normalized_weight()
        for layer in layers:
            sigma = torch.linalg.svdvals(layer.normalized_weight().flatten(1).double())[0].item()
            assert abs(sigma - 1) < UNIT_SIGMA_ATOL, (type(layer).__name__, tuple(layer.weight.shape), sigma)


# --- the blocks, re-computed ----------------------------------------------------------------------

@pytest.mark.parametrize("upsample", [True, False])
def test_gblock_matches_a_recomputation_from_its_parts(upsample):
    torch.manual_seed(0)
    block = GBlock(8, 16, num_classes=3, upsample=upsample).train()
    with torch.no_grad():
        for cbn in (block.bn1, block.bn2):
            cbn.gain.weight.normal_(1, 0.5)
            cbn.bias.weight.normal_()
    x, y = torch.randn(4, 8, 4, 4), torch.tensor([0, 2, 1, 2])
    shortcut_inputs, handles = record_input_shapes([block.shortcut])
    out = block(x, y)
    handles[0].remove()
    block.eval()  # the vectors the training forward left: the same normalized weights, no new update
    up = (lambda t: F.interpolate(t, scale_factor=2, mode="nearest")) if upsample else (lambda t: t)
    with torch.no_grad():
        h = up(F.relu(cbn_by_hand(block.bn1, x, y)))
        h = conv(block.conv1, h)
        h = conv(block.conv2, F.relu(cbn_by_hand(block.bn2, h, y)))
        expected = h + conv(block.shortcut, up(x))
    side = 8 if upsample else 4
    assert out.shape == (4, 16, side, side)
    assert torch.allclose(out, expected, atol=1e-4)
    assert shortcut_inputs == [(4, 8, side, side)]  # upsample, then the 1x1 conv


@pytest.mark.parametrize("first", [False, True])
def test_dblock_matches_a_recomputation_from_its_parts(first):
    torch.manual_seed(0)
    block = DBlock(3 if first else 8, 16, first=first).eval()
    x = torch.randn(2, block.conv1.in_channels, 8, 8)
    shortcut_inputs, handles = record_input_shapes([block.shortcut])
    with torch.no_grad():
        out = block(x)
        handles[0].remove()
        h = x if first else F.relu(x)  # the first block sees the image: no leading ReLU
        h = F.avg_pool2d(conv(block.conv2, F.relu(conv(block.conv1, h))), 2)
        if first:
            expected = h + conv(block.shortcut, F.avg_pool2d(x, 2))
        else:
            expected = h + F.avg_pool2d(conv(block.shortcut, x), 2)
    assert out.shape == (2, 16, 4, 4)
    assert torch.allclose(out, expected, atol=FLOAT32_ATOL)
    # pool then 1x1 conv and 1x1 conv then pool agree numerically: the order shows in what the conv sees
    assert shortcut_inputs == [(2, x.shape[1], 4, 4) if first else (2, x.shape[1], 8, 8)]


def test_first_dblock_applies_no_relu_to_the_image():
    torch.manual_seed(0)
    first, other = DBlock(3, 8, first=True).eval(), DBlock(3, 8).eval()
    other.load_state_dict(first.state_dict())
    x = -torch.rand(1, 3, 4, 4)  # all negative: a leading ReLU zeroes what the residual branch sees
    with torch.no_grad():
        zero_input_branch = F.avg_pool2d(conv(first.conv2, F.relu(conv(first.conv1, torch.zeros_like(x)))), 2)
        assert torch.allclose(other(x) - other.shortcut(F.avg_pool2d(x, 2)), zero_input_branch, atol=FLOAT32_ATOL)
        assert not torch.allclose(first(x) - first.shortcut(F.avg_pool2d(x, 2)), zero_input_branch, atol=1e-3)


def test_non_downsampling_dblock_with_equal_channels_has_an_identity_shortcut():
    torch.manual_seed(0)
    block = DBlock(8, 8, downsample=False).eval()
    assert block.shortcut is None
    assert count(block) == 2 * (8 * 8 * 9 + 8)
    x = torch.randn(2, 8, 4, 4)
    with torch.no_grad():
        expected = x + conv(block.conv2, F.relu(conv(block.conv1, F.relu(x))))
        assert torch.allclose(block(x), expected, atol=FLOAT32_ATOL)
    assert DBlock(8, 16, downsample=False).shortcut is not None  # channels change: a 1x1 conv


# --- initialization -------------------------------------------------------------------------------

def test_xavier_init_zeroes_biases_and_keeps_weights_within_xavier_bounds():
    torch.manual_seed(0)
    config = small(32, attention=16, init="xavier")
    for model in (Generator(config), Discriminator(config)):
        layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        assert layers
        for layer in layers:
            W = layer.weight
            receptive = W[0, 0].numel() if W.dim() > 2 else 1
            bound = math.sqrt(6 / (W.shape[1] * receptive + W.shape[0] * receptive))
            assert W.abs().max() <= bound
            assert W.abs().max() > 0.8 * bound  # uniform over the whole range, not a narrower init
            if layer.bias is not None:
                assert (layer.bias == 0).all()


def test_orthogonal_init_gives_orthonormal_rows():
    torch.manual_seed(0)
    config = small(32, attention=16, init="orthogonal")
    G = Generator(config)
    for layer in (G.blocks[0].conv1, G.blocks[1].conv2, G.blocks[1].shortcut):  # rows <= cols
        W = layer.weight.flatten(1)
        assert W.shape[0] <= W.shape[1]
        assert torch.allclose(W @ W.T, torch.eye(W.shape[0]), atol=ORTHOGONAL_ATOL)
        assert (layer.bias == 0).all()


# --- configuration errors -------------------------------------------------------------------------

@pytest.mark.parametrize("field, bad", [
    ("resolution", dict(resolution=48)),
    ("num_classes", dict(num_classes=-1)),
    ("attention", dict(resolution=32, attention=64)),
    ("attention", dict(resolution=32, attention=4)),
    ("attention", dict(resolution=128, attention=128)),
    ("attention", dict(resolution=64, attention=12)),
    ("width", dict(resolution=32, width=12, attention=16)),
    ("width", dict(width=0)),
    ("z_dim", dict(z_dim=0)),
    ("attention_kind", dict(attention_kind="conv")),
    ("init", dict(init="kaiming")),
])
def test_invalid_configuration_raises_naming_the_field(field, bad):
    with pytest.raises(ValueError, match=rf"^config key {field!r}:"):
        SAGANConfig(**bad)


def test_feature_resolutions_are_the_block_outputs_g_and_d_share():
    assert small(32).feature_resolutions == (8, 16)
    assert small(64).feature_resolutions == (8, 16, 32)
    assert SAGANConfig().feature_resolutions == (8, 16, 32, 64)


# --- layer table ----------------------------------------------------------------------------------

def test_generator_layer_table_lists_blocks_in_forward_order_with_shapes_and_parameters():
    config = small(32, attention=16)
    G = Generator(config).eval()
    z, y, _ = inputs(config)
    rows = layer_table(G, z, y)
    B, c = BATCH, config.width
    assert [(name, shape) for name, shape, _ in rows] == [  # G at 32: 4ch at 4x4, then 4ch, 2ch, ch
        ("input.SNLinear", (B, 4 * c * 16)),
        ("blocks.0.GBlock", (B, 4 * c, 8, 8)),
        ("blocks.1.GBlock", (B, 2 * c, 16, 16)),
        ("blocks.2.SelfAttention", (B, 2 * c, 16, 16)),
        ("blocks.3.GBlock", (B, c, 32, 32)),
        ("output_bn.BatchNorm2d", (B, c, 32, 32)),
        ("output.SNConv2d", (B, 3, 32, 32)),
    ]
    modules = [G.input, *G.blocks, G.output_bn, G.output]
    assert [params for *_, params in rows] == [count(m) for m in modules]
    assert sum(params for *_, params in rows) == count(G)
    assert rows[-1][1] == tuple(G(z, y).shape)


def test_discriminator_layer_table_lists_blocks_in_forward_order_with_shapes_and_parameters():
    config = small(32, attention=16)
    D = Discriminator(config).eval()
    _, y, x = inputs(config)
    rows = layer_table(D, x, y)
    B, c = BATCH, config.width
    assert [(name, shape) for name, shape, _ in rows] == [  # D at 32: ch, 2ch, 4ch, then 4ch unpooled
        ("blocks.0.DBlock", (B, c, 16, 16)),
        ("blocks.1.SelfAttention", (B, c, 16, 16)),
        ("blocks.2.DBlock", (B, 2 * c, 8, 8)),
        ("blocks.3.DBlock", (B, 4 * c, 4, 4)),
        ("blocks.4.DBlock", (B, 4 * c, 4, 4)),
        ("psi.SNLinear", (B, 1)),
        ("embed.SNEmbedding", (B, 4 * c)),
    ]
    assert sum(params for *_, params in rows) == count(D)
    unconditional = Discriminator(small(32, num_classes=0)).eval()
    rows = layer_table(unconditional, x)
    assert [name for name, *_ in rows][-1] == "psi.SNLinear"
    assert sum(params for *_, params in rows) == count(unconditional)


def test_a_residual_block_in_place_of_attention_needs_no_multiple_of_8():
    config = SAGANConfig(resolution=32, width=12, z_dim=8, num_classes=0, attention=16, attention_kind="residual")
    assert Generator(config)(torch.randn(2, 8)).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="config key .width."):
        SAGANConfig(resolution=32, width=12, z_dim=8, num_classes=0, attention=16, attention_kind="attention")


def test_layer_table_leaves_the_model_as_it_was():
    config = SAGANConfig(resolution=32, width=8, z_dim=8, num_classes=3, attention=16)
    G = Generator(config)
    before = {k: v.clone() for k, v in G.state_dict().items()}
    layer_table(G, torch.randn(2, 8), torch.tensor([0, 1]))
    assert G.training
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())


@pytest.mark.parametrize("resolution, attention", [(128, 64), (64, 16), (32, 16), (32, 0)])
def test_the_architecture_figure_draws_the_networks_own_blocks(resolution, attention):
    import matplotlib

    matplotlib.use("Agg")
    from minisagan.figures import architecture_figure

    config = SAGANConfig(resolution=resolution, width=8, z_dim=16, num_classes=5, attention=attention)
    G, D = Generator(config), Discriminator(config)
    fig = architecture_figure(G, D)
    g_ax, d_ax = fig.axes
    for ax, model, channels_at in ((g_ax, G, config.g_channels_at), (d_ax, D, config.d_channels_at)):
        boxes = [t.get_text() for t in ax.texts]
        kinds = [type(m).__name__ for name, m in model.named_modules() if name.count(".") == 1
                 and name.startswith("blocks.")]
        assert [b.split("\n")[0] for b in boxes if "(blocks." in b] == kinds  # every block, in order
        assert sum(b.startswith("SelfAttention") for b in boxes) == (1 if attention else 0)
        if attention:  # the attention box carries the shape of that place: C x R x R
            (box,) = [b for b in boxes if b.startswith("SelfAttention")]
            assert box.split("\n")[2] == f"{channels_at(attention)} x {attention} x {attention}"
    total = sum(p.numel() for p in G.parameters())
    assert g_ax.get_title(loc="left").startswith(f"G: {total / 1e6:.2f}M parameters")
    assert [t.get_text() for t in d_ax.texts if t.get_text()][-1].startswith("SNEmbedding")  # the projection's embedding


@pytest.mark.parametrize("official", [False, True])
def test_the_attention_block_figure_shows_the_shapes_the_block_computes(official):
    import matplotlib

    matplotlib.use("Agg")
    from minisagan.attention import SelfAttention
    from minisagan.figures import attention_block_figure

    block = SelfAttention(64, official=official)
    texts = [t.get_text() for t in attention_block_figure(block, torch.randn(2, 64, 8, 12)).axes[0].texts]
    keys = 6 * 4 if official else 96  # 8 x 12 positions, pooled 2x2 in the official variant
    values = 32 if official else 64
    assert any(t.endswith(f"beta: 96 x {keys}") for t in texts)
    assert any(t.startswith("queries\ng(x)") and t.endswith("96 x 8") for t in texts)
    assert any(t.startswith("values\nh(x)") and t.endswith(f"{keys} x {values}") for t in texts)
    assert any(t.startswith("y = gamma o + x") and "64 x 8 x 12" in t for t in texts)


ARTICLE_PX = 900  # the built book's article column at its widest (60em, less padding)


@pytest.mark.parametrize("official", [False, True])
def test_the_attention_block_figure_is_readable_at_the_pages_width(official, tmp_path):
    """Rendered as the notebook shows it (100 dpi, tight box) and scaled to the page's column, every
    label is at least 11 px tall, and every box's text stays inside its box."""
    import matplotlib

    matplotlib.use("Agg")
    from PIL import Image

    from minisagan.attention import SelfAttention
    from minisagan.figures import attention_block_figure

    figure = attention_block_figure(SelfAttention(256, official=official), torch.randn(1, 256, 32, 32))
    figure.savefig(tmp_path / "block.png", dpi=100, bbox_inches="tight")
    width = Image.open(tmp_path / "block.png").width
    shown = min(1.0, ARTICLE_PX / width)  # the page shrinks a wider image to its column
    ax = figure.axes[0]
    texts = [t for t in ax.texts if t.get_text()] + [ax.title]
    smallest = min(t.get_fontsize() * 100 / 72 * shown for t in texts)
    assert smallest >= 11, f"labels render at {smallest:.1f} px on a {width} px figure"
    renderer = figure.canvas.get_renderer()
    figure.set_dpi(100)
    boxes = [patch.get_window_extent(renderer) for patch in ax.patches]
    for text in ax.texts:
        extent = text.get_window_extent(renderer)
        middle = ((extent.x0 + extent.x1) / 2, (extent.y0 + extent.y1) / 2)
        holder = [box for box in boxes if box.contains(*middle)]
        if holder:  # the grey residual label lies outside every box
            assert holder[0].x0 <= extent.x0 and extent.x1 <= holder[0].x1, f"{text.get_text()!r} overflows its box"
