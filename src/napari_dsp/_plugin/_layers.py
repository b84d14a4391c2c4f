"""Layer plumbing for the widgets: 2-D planes out of napari layers, output layers back in.

The algorithms take one 2-D image (plus an RGB axis). A napari image may
have leading axes (time, z): these are split into planes, and every output
layer has the image's full shape with the computed planes filled in.

Output layers carry ``metadata["napari_dsp"] = {"kind", "source", ...}`` so
that a re-run finds and updates the plugin's own layer, never a user layer
that merely has a similar name.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import numpy as np

if TYPE_CHECKING:
    import napari

METADATA_KEY = "napari_dsp"
PRIOR = "prior"


def dsp_metadata(layer) -> dict:
    """The plugin's metadata of `layer`, empty for layers the plugin did not make."""
    value = layer.metadata.get(METADATA_KEY)
    return value if isinstance(value, dict) else {}


def source_name(layer) -> str:
    """Name of the image `layer` derives from: its own name unless the plugin made it."""
    return dsp_metadata(layer).get("source", layer.name)


def is_image(layer) -> bool:
    from napari.layers import Image

    return isinstance(layer, Image)


def is_prior(layer) -> bool:
    return is_image(layer) and dsp_metadata(layer).get("kind") == PRIOR


def find_output(viewer: "napari.viewer.Viewer", source: str, kind: str):
    """The plugin's `kind` layer made from the image named `source`, or None."""
    for layer in viewer.layers:
        metadata = dsp_metadata(layer)
        if metadata.get("kind") == kind and metadata.get("source") == source:
            return layer
    return None


@dataclass(frozen=True)
class Source:
    """What a run needs of its input image layer, captured on the GUI thread.

    The layer may be renamed or deleted while a worker runs; the run keeps
    using this snapshot.
    """

    name: str
    data: object
    rgb: bool
    scale: tuple
    translate: tuple
    contrast_limits: tuple
    colormap: object

    @property
    def channel_axis(self) -> Optional[int]:
        return -1 if self.rgb else None

    @property
    def leading_shape(self) -> tuple:
        return tuple(self.data.shape[: self.data.ndim - 2 - self.rgb])

    @property
    def spatial_shape(self) -> tuple:
        return tuple(self.data.shape[len(self.leading_shape) :][:2])

    def plane(self, index: tuple) -> np.ndarray:
        """The 2-D (+ RGB) plane at `index` of the leading axes, as a NumPy array."""
        return np.asarray(self.data[index])


def image_source(layer, *, min_size: int = 2) -> Source:
    """Validate an image layer for segmentation and snapshot it.

    Raises
    ------
    ValueError
        If `layer` is missing or not an Image layer, multiscale, or its planes
        are smaller than `min_size`.
    """
    if layer is None:
        raise ValueError("no image layer selected; open an image (or File > Open Sample > napari-dsp) first")
    if not is_image(layer):
        raise ValueError(
            f"layer {layer.name!r} is a {type(layer).__name__} layer; choose an Image layer as input"
        )
    if layer.multiscale:
        raise ValueError(
            f"layer {layer.name!r} is multiscale; add its full-resolution level as a plain image layer first"
        )
    if layer.data.ndim < 2 + layer.rgb:
        raise ValueError(f"layer {layer.name!r} has shape {layer.data.shape}; a 2-D image is needed")
    source = Source(
        name=source_name(layer),
        data=layer.data,
        rgb=bool(layer.rgb),
        scale=tuple(layer.scale),
        translate=tuple(layer.translate),
        contrast_limits=tuple(layer.contrast_limits),
        colormap=layer.colormap,
    )
    if min(source.spatial_shape) < min_size:
        height, width = source.spatial_shape
        raise ValueError(
            f"layer {layer.name!r} is {height} x {width} pixels; at least {min_size} x {min_size} is needed"
        )
    return source


def matching_data(layer, shape: tuple, what: str):
    """Check that `layer` (a guide or scribbles) has `shape` and return its data.

    Raises
    ------
    ValueError
        If the layer's data has another shape.
    """
    if tuple(layer.data.shape) != tuple(shape):
        raise ValueError(
            f"{what} layer {layer.name!r} has shape {tuple(layer.data.shape)} but {tuple(shape)} is "
            f"needed; choose a layer made from this image"
        )
    return layer.data


def current_index(viewer: "napari.viewer.Viewer", source: Source, layer) -> tuple:
    """Index into the leading axes of the plane the viewer currently shows."""
    leading = source.leading_shape
    if not leading:
        return ()
    position = layer.world_to_data(viewer.dims.point)[: len(leading)]
    return tuple(int(np.clip(round(float(p)), 0, n - 1)) for p, n in zip(position, leading))


def plane_indices(viewer, source: Source, layer, all_slices: bool) -> list:
    """The leading-axis indices to segment: every slice, or the one on screen."""
    if all_slices:
        return list(np.ndindex(*source.leading_shape))
    return [current_index(viewer, source, layer)]


class OutputLayer:
    """One output layer of one run: created or reused, filled plane by plane.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
    source : Source
        The image the output derives from.
    kind : str
        ``"prior"`` (an Image layer shaped like the source) or a segmentation
        method (a Labels layer shaped like the source without its RGB axis).
    """

    def __init__(self, viewer, source: Source, kind: str):
        self.viewer = viewer
        self.source = source
        self.kind = kind
        self.name = f"{source.name} {kind}"
        if kind == PRIOR:
            # napari shows float RGB as if in [0, 1] (thumbnails ignore contrast limits): keep 8-bit photos 8-bit
            uint8_rgb = source.rgb and source.data.dtype == np.uint8
            self.shape, self.dtype = tuple(source.data.shape), np.uint8 if uint8_rgb else np.float32
        else:
            self.shape, self.dtype = source.leading_shape + source.spatial_shape, np.int32
        self.layer = find_output(viewer, source.name, kind)
        self._created = self.layer is None
        self._backup = None if self.layer is None else (self.layer.data, dict(self.layer.metadata))
        # planes of earlier slice-by-slice runs that this run keeps
        earlier = dsp_metadata(self.layer).get("planes") if self.layer is not None else None
        same_shape = self.layer is not None and tuple(self.layer.data.shape) == self.shape
        self._earlier_planes = earlier if same_shape and isinstance(earlier, list) else []

    def _metadata(self, **extra) -> dict:
        return {METADATA_KEY: {"kind": self.kind, "source": self.source.name, **extra}}

    def _add(self, data):
        source = self.source
        common = dict(name=self.name, scale=source.scale, translate=source.translate)
        if self.kind == PRIOR:
            colormap = {} if source.rgb else {"colormap": source.colormap}
            return self.viewer.add_image(
                data, rgb=source.rgb, contrast_limits=source.contrast_limits,
                metadata=self._metadata(complete=False), **common, **colormap,
            )
        return self.viewer.add_labels(data, metadata=self._metadata(complete=False), **common)

    def write(self, index: tuple, plane: np.ndarray) -> None:
        """Put `plane` at `index` of the leading axes, creating the layer if needed."""
        if self.dtype == np.uint8:
            plane = np.clip(np.rint(plane), 0, 255)
        plane = np.asarray(plane, dtype=self.dtype)
        if self.layer is not None and self.layer not in self.viewer.layers:
            self.layer, self._created = None, True
        if self.layer is None:
            data = np.zeros(self.shape, self.dtype)
            data[index] = plane
            self.layer = self._add(data)
            return
        data = self.layer.data
        if index == ():
            data = plane
        else:
            if tuple(data.shape) != self.shape or not isinstance(data, np.ndarray):
                data = np.zeros(self.shape, self.dtype)
            elif self._backup is not None and data is self._backup[0]:
                data = data.copy()  # the backup keeps the earlier planes for rollback
            data[index] = plane
        self.layer.data = data
        if self.kind == PRIOR:
            self.layer.contrast_limits = self.source.contrast_limits

    def finish(self, parameters: dict, indices: list) -> None:
        """Record the run's parameters and which planes it computed."""
        if self.layer is None:
            return
        if len(indices) > 1 or indices == [()]:
            done = "all"
        else:
            done = sorted({tuple(i) for i in self._earlier_planes} | set(indices))
            done = [list(i) for i in done]
        self.layer.metadata = self._metadata(parameters=dict(parameters), planes=done, complete=True)
        self.layer.refresh()

    def rollback(self) -> None:
        """Undo the run: remove a layer it created, restore one it changed."""
        if self.layer is None or self.layer not in self.viewer.layers:
            return
        if self._created:
            self.viewer.layers.remove(self.layer)
        else:
            self.layer.data, self.layer.metadata = self._backup
