"""Training data: the built-in mirror shapes (with their exact consistency checker) and image folders."""

from .folder import image_folder, load_rgb
from .shapes import (
    RESOLUTIONS,
    SHAPE_NAMES,
    ConsistencyReport,
    ShapeParams,
    ShapesDataset,
    consistency,
    render,
    sample_shapes,
    shape_params,
)

__all__ = [
    "RESOLUTIONS",
    "SHAPE_NAMES",
    "ConsistencyReport",
    "ShapeParams",
    "ShapesDataset",
    "consistency",
    "image_folder",
    "load_rgb",
    "render",
    "sample_shapes",
    "shape_params",
]
