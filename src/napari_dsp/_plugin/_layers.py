"""Layer plumbing for the widgets: 2-D planes out of napari layers, output layers back in.

The algorithms take one 2-D image (plus a channel axis: RGB or microscopy
channels). A napari image may have leading axes (time, z): these are split
into planes, and every output layer has the image's full shape with the
computed planes filled in.

Output layers carry ``metadata["napari_dsp"] = {"kind", "source", "checksum",
...}`` so that a re-run finds and updates the plugin's own layer, never a
user layer that merely has a similar name, nor one the user has edited since.
"""

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import numpy as np

from .._provenance import METADATA_KEY

if TYPE_CHECKING:
    import napari

PRIOR = "prior"
SALIENCY = "saliency"
CHANNEL_LABELS = {"c", "ch", "channel", "channels"}
"""Axis labels that mark an axis of microscopy channels."""


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
    """The plugin's newest `kind` layer made from the image named `source`, or None."""
    for layer in reversed(list(viewer.layers)):
        metadata = dsp_metadata(layer)
        if metadata.get("kind") == kind and metadata.get("source") == source:
            return layer
    return None


@dataclass(frozen=True)
class Source:
    """What a run needs of its input image layer, captured on the GUI thread.

    The layer may be renamed or deleted while a worker runs; the run keeps
    using this snapshot. `channel_axis` is the axis of `data` holding the
    channels (RGB(A) or microscopy channels) or None; the two last other axes
    are the plane, any axes before them (time, z) are the leading axes.
    """

    name: str
    data: object
    rgb: bool
    channel_axis: Optional[int]
    scale: tuple
    translate: tuple
    contrast_limits: tuple
    colormap: object
    axis_labels: tuple

    @property
    def _plane_axes(self) -> tuple:
        return tuple(a for a in range(self.data.ndim) if a != self.channel_axis)

    @property
    def leading_axes(self) -> tuple:
        return self._plane_axes[:-2]

    @property
    def leading_shape(self) -> tuple:
        return tuple(self.data.shape[a] for a in self.leading_axes)

    @property
    def spatial_shape(self) -> tuple:
        return tuple(self.data.shape[a] for a in self._plane_axes[-2:])

    @property
    def labels_shape(self) -> tuple:
        """Shape of a segmentation: the image's without its channel axis."""
        return self.leading_shape + self.spatial_shape

    @property
    def prior_shape(self) -> tuple:
        """Shape of the prior: the image's, with RGBA's alpha left out."""
        return tuple(3 if self.rgb and a == self.channel_axis else n for a, n in enumerate(self.data.shape))

    def without_channels(self, values: tuple) -> tuple:
        """Per-axis `values` (scale, axis labels) for a segmentation, which has no channel axis."""
        return tuple(values[a] for a in self._plane_axes)

    def _full_index(self, index: tuple) -> tuple:
        full = [slice(None)] * self.data.ndim
        for axis, i in zip(self.leading_axes, index):
            full[axis] = i
        return tuple(full)

    def _channel_position(self) -> int:
        """Position of the channel axis within a plane taken at `_full_index`."""
        return sum(a < self.channel_axis for a in self._plane_axes[-2:])

    def plane(self, index: tuple, data=None) -> np.ndarray:
        """The ``(M, N[, C])`` plane at `index` of the leading axes, channels last, RGBA's alpha left out.

        `data` (default: the image's) is an array of the image's shape or of `prior_shape`.
        """
        plane = np.asarray((self.data if data is None else data)[self._full_index(index)])
        if self.channel_axis is None:
            return plane
        plane = np.moveaxis(plane, self._channel_position(), -1)
        return plane[..., :3] if self.rgb else plane

    def put_plane(self, data: np.ndarray, index: tuple, plane: np.ndarray) -> None:
        """Write a `plane` of `plane`'s layout into `data` of `prior_shape`: the inverse of `plane`."""
        if self.channel_axis is not None:
            plane = np.moveaxis(plane, -1, self._channel_position())
        data[self._full_index(index)] = plane

    @property
    def plane_channel_axis(self) -> Optional[int]:
        """The `channel_axis` argument for the library, for a plane of `plane`."""
        return None if self.channel_axis is None else -1


def channel_axis_guess(viewer: "napari.viewer.Viewer", layer) -> Optional[int]:
    """The channel axis of a non-RGB image layer, from the plugin's metadata or the axis labels, or None."""
    if layer is None or layer.rgb or layer.ndim < 3:
        return None
    recorded = dsp_metadata(layer).get("parameters", {}).get("channel_axis")
    if isinstance(recorded, int) and 0 <= recorded < layer.ndim:
        return recorded
    viewer_labels = tuple(viewer.dims.axis_labels)[-layer.ndim:]
    for axis in range(layer.ndim):
        names = {str(layer.axis_labels[axis]).lower()}
        if len(viewer_labels) == layer.ndim:
            names.add(str(viewer_labels[axis]).lower())
        if names & CHANNEL_LABELS:
            return axis
    return None


def image_source(layer, *, channel_axis: Optional[int] = None, min_size: int = 2) -> Source:
    """Validate an image layer for segmentation and snapshot it.

    Parameters
    ----------
    layer : napari.layers.Image or None
    channel_axis : int or None
        Axis of a non-RGB layer holding channels (microscopy); ignored for
        RGB(A) layers, whose last axis always holds the colours.
    min_size : int
        Smallest height and width accepted.

    Raises
    ------
    ValueError
        If `layer` is missing or not an Image layer, multiscale, the channel
        axis does not fit it, or its planes are smaller than `min_size`.
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
    ndim = layer.data.ndim
    if layer.rgb:
        channel_axis = ndim - 1
    elif channel_axis is not None and not 0 <= channel_axis < ndim:
        raise ValueError(f"channel axis {channel_axis} but layer {layer.name!r} has {ndim} axes; choose 'none'")
    if ndim - (channel_axis is not None) < 2:
        raise ValueError(
            f"layer {layer.name!r} has shape {layer.data.shape}; a 2-D image (with channels: 3-D) is needed"
        )
    source = Source(
        name=source_name(layer),
        data=layer.data,
        rgb=bool(layer.rgb),
        channel_axis=channel_axis,
        scale=tuple(layer.scale),
        translate=tuple(layer.translate),
        contrast_limits=tuple(layer.contrast_limits),
        colormap=layer.colormap,
        axis_labels=tuple(layer.axis_labels),
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
    if not source.leading_axes:
        return ()
    position = layer.world_to_data(viewer.dims.point)
    return tuple(
        int(np.clip(round(float(position[axis])), 0, n - 1))
        for axis, n in zip(source.leading_axes, source.leading_shape)
    )


def plane_indices(viewer, source: Source, layer, all_slices: bool) -> list:
    """The leading-axis indices to segment: every slice, or the one on screen."""
    if all_slices:
        return list(np.ndindex(*source.leading_shape))
    return [current_index(viewer, source, layer)]


def checksum(data) -> str:
    """Fingerprint of a layer's data, to tell whether the user changed what the plugin wrote."""
    array = np.ascontiguousarray(data)
    digest = hashlib.blake2b(f"{array.shape}{array.dtype}".encode(), digest_size=16)
    digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def is_edited(layer) -> bool:
    """Whether `layer`'s data differ from what the plugin last wrote into it (painted, filled, replaced)."""
    return dsp_metadata(layer).get("checksum") != checksum(layer.data)


_CLAIMED = set()
"""`unique_id`s of the output layers that running jobs are writing into."""


class OutputLayer:
    """One output layer of one run: created or reused, filled plane by plane.

    The run reuses the plugin's latest layer of this kind and source unless
    the user edited it (or another run is writing into it); then the result
    goes to a new layer and `kept` names the layer left alone. The run owns
    its layer until `release`.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
    source : Source
        The image the output derives from.
    kind : str
        ``"prior"`` (an Image layer shaped like the source), ``"saliency"``
        (a float Image layer in [0, 1] shaped like the source without its
        channels) or a segmentation method (a Labels layer of that shape).
    """

    def __init__(self, viewer, source: Source, kind: str):
        self.viewer = viewer
        self.source = source
        self.kind = kind
        self.name = f"{source.name} {kind}"
        if kind == PRIOR:
            # napari shows float RGB as if in [0, 1] (thumbnails ignore contrast limits): keep 8-bit photos 8-bit
            uint8_rgb = source.rgb and source.data.dtype == np.uint8
            self.shape, self.dtype = source.prior_shape, np.uint8 if uint8_rgb else np.float32
        elif kind == SALIENCY:
            self.shape, self.dtype = source.labels_shape, np.float32
        else:
            self.shape, self.dtype = source.labels_shape, np.int32
        self.kept = ""
        self.layer = self._reusable_layer()
        self._created = self.layer is None
        self._claim()
        self._backup = None if self.layer is None else (self.layer.data, dict(self.layer.metadata))
        # planes of earlier slice-by-slice runs that this run keeps
        earlier = dsp_metadata(self.layer).get("planes") if self.layer is not None else None
        same_shape = self.layer is not None and tuple(self.layer.data.shape) == self.shape
        self._earlier_planes = earlier if same_shape and isinstance(earlier, list) else []

    def _reusable_layer(self):
        """The newest of the plugin's layers of this kind and source that nobody else owns."""
        for layer in reversed(list(self.viewer.layers)):
            metadata = dsp_metadata(layer)
            if metadata.get("kind") != self.kind or metadata.get("source") != self.source.name:
                continue
            if layer.unique_id in _CLAIMED:
                self.kept = self.kept or f"{layer.name!r} is being written by another run"
            elif is_edited(layer):
                self.kept = self.kept or f"{layer.name!r} has your edits"
            else:
                return layer
        return None

    def _claim(self) -> None:
        if self.layer is not None:
            _CLAIMED.add(self.layer.unique_id)

    def release(self) -> None:
        """End the run's ownership of its layer."""
        if self.layer is not None:
            _CLAIMED.discard(self.layer.unique_id)

    def _metadata(self, **extra) -> dict:
        return {METADATA_KEY: {"kind": self.kind, "source": self.source.name, **extra}}

    def _add(self, data):
        source = self.source
        if self.kind == PRIOR:
            colormap = {} if source.rgb else {"colormap": source.colormap}
            return self.viewer.add_image(
                data, name=self.name, rgb=source.rgb, contrast_limits=source.contrast_limits,
                scale=source.scale, translate=source.translate, axis_labels=source.axis_labels,
                metadata=self._metadata(complete=False), **colormap,
            )
        if self.kind == SALIENCY:
            return self.viewer.add_image(
                data, name=self.name, colormap="magma", contrast_limits=(0, 1), opacity=0.6, blending="additive",
                scale=source.without_channels(source.scale), translate=source.without_channels(source.translate),
                axis_labels=source.without_channels(source.axis_labels), metadata=self._metadata(complete=False),
            )
        return self.viewer.add_labels(
            data, name=self.name, metadata=self._metadata(complete=False),
            scale=source.without_channels(source.scale), translate=source.without_channels(source.translate),
            axis_labels=source.without_channels(source.axis_labels),
        )

    def write(self, index: tuple, plane: np.ndarray) -> None:
        """Put `plane` (laid out as `Source.plane`) at `index` of the leading axes, creating the layer if needed."""
        if self.dtype == np.uint8:
            plane = np.clip(np.rint(plane), 0, 255)
        plane = np.asarray(plane, dtype=self.dtype)
        if self.layer is not None and self.layer not in self.viewer.layers:
            self.release()
            self.layer, self._created = None, True
        data = None if self.layer is None else self.layer.data
        if data is None or tuple(data.shape) != self.shape or not isinstance(data, np.ndarray):
            data = np.zeros(self.shape, self.dtype)
        elif self._backup is not None and data is self._backup[0]:
            data = data.copy()  # the backup keeps the earlier planes for rollback
        if self.kind == PRIOR:
            self.source.put_plane(data, index, plane)
        else:
            data[index] = plane
        if self.layer is None:
            self.layer = self._add(data)
            self._claim()
            return
        self.layer.data = data
        if self.kind == PRIOR:
            self.layer.contrast_limits = self.source.contrast_limits

    def finish(self, parameters: dict, indices: list) -> None:
        """Record the run's parameters, which planes it computed and what it wrote."""
        if self.layer is None:
            return
        if len(indices) > 1 or indices == [()]:
            done = "all"
        else:
            done = sorted({tuple(i) for i in self._earlier_planes} | set(indices))
            done = [list(i) for i in done]
        self.layer.metadata = self._metadata(
            parameters=dict(parameters), planes=done, complete=True, checksum=checksum(self.layer.data),
        )
        if self.kind != PRIOR and not self._created:
            # the layer's undo history holds strokes on data that are gone: toggling `editable` clears it
            mode = self.layer.mode
            self.layer.editable = False
            self.layer.editable = True
            self.layer.mode = mode
        self.layer.refresh()

    def rollback(self) -> None:
        """Undo the run: remove a layer it created, restore one it changed."""
        if self.layer is None or self.layer not in self.viewer.layers:
            return
        if self._created:
            self.viewer.layers.remove(self.layer)
        else:
            self.layer.data, self.layer.metadata = self._backup
