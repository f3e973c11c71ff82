"""The data room: the built-in mirror shapes (`shapes`), their exact checker (`consistency`), the
shapes classifier whose features the domain metrics read (`shapes_classifier`, weights shipped as
package data), and folders of your own images (`folder`)."""

from .consistency import ConsistencyReport, consistency
from .folder import image_folder, load_rgb
from .shapes import RESOLUTIONS, SHAPE_NAMES, ShapeParams, ShapesDataset, render, sample_shapes, shape_params

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
