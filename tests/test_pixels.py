"""The one pair of pixel conversions (`minisagan.data.pixels`), against the formulas by hand."""

import pytest
import torch

from minisagan import imagestore, metrics
from minisagan.data import pixels
from minisagan.data.pixels import to_float, to_uint8


def test_every_byte_goes_to_float_and_back_unchanged():
    every = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).expand(1, 3, 16, 16)
    floats = to_float(every)
    assert floats.dtype == torch.float32 and floats.min() == -1 and floats.max() == 1
    assert torch.equal(to_uint8(floats), every)


def test_the_conversions_are_the_formulas():
    x = torch.tensor([-1.0, -0.5, 0.0, 0.2, 1.0, -1.0]).view(1, 3, 1, 2)
    by_hand = [round((v + 1) * 127.5) for v in x.flatten().tolist()]  # [0, 64, 128, 153, 255, 0]
    assert to_uint8(x).flatten().tolist() == by_hand
    b = torch.tensor([0, 1, 127, 128, 254, 255], dtype=torch.uint8)
    assert to_float(b).tolist() == pytest.approx([v / 127.5 - 1 for v in b.tolist()], abs=1e-7)


def test_to_float_keeps_the_layout_and_rejects_floats():
    rows = torch.randint(0, 256, (2, 5, 5, 3), dtype=torch.uint8)  # a store's [B, R, R, 3]
    assert to_float(rows).shape == (2, 5, 5, 3)
    with pytest.raises(ValueError, match="to_float takes uint8 images in \\[0, 255\\], got torch.float32"):
        to_float(rows.float())


def test_the_modules_convert_through_the_one_pair():
    assert metrics.to_uint8 is pixels.to_uint8  # Chapter 5 imports it
    rows = torch.randint(0, 256, (2, 4, 4, 3), dtype=torch.uint8)
    assert torch.equal(imagestore.to_model_input(rows, "cpu"), to_float(rows.permute(0, 3, 1, 2)))
