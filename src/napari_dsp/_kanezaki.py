"""Kanezaki's self-training segmenter: the network, one training step, the superpixel vote, relabelling.

The pieces of `napari_dsp.backprop.backprop_segmentation`, which validates
the options and runs the loop; the functions here assume valid input.

References
----------
.. [1] A. Kanezaki, "Unsupervised image segmentation by backpropagation",
   ICASSP 2018.
.. [2] W. Kim, A. Kanezaki, M. Tanaka, "Unsupervised learning of image
   segmentation based on differentiable feature clustering", IEEE TIP 29, 2020.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from skimage.segmentation import slic
from torch import nn

from ._device import autocast

__all__ = ["SCRIBBLE_WEIGHT", "Relabel", "SegmentationNet", "final_labels", "superpixels",
           "train_step", "vote"]

SCRIBBLE_WEIGHT = 0.5
"""Weight of the cross-entropy to the user's scribbles (Kim et al.'s code)."""


class SegmentationNet(nn.Module):
    """The feature network of Kanezaki (2018).

    conv3x3 -> ReLU -> BN, then ``n_conv - 1`` times conv3x3 -> ReLU -> BN,
    then conv1x1 -> BN; zero padding keeps the spatial size.

    Shape: (B, in_channels, H, W) -> (B, n_features, H, W), one response per
    candidate label.

    Parameters
    ----------
    in_channels : int
        Channels of the input image.
    n_features : int
        Channels of the response, i.e. the largest number of labels.
    n_conv : int
        Number of 3x3 convolutions.
    """

    def __init__(self, in_channels: int, n_features: int = 100, n_conv: int = 2):
        super().__init__()
        self.in_channels = in_channels
        layers = []
        for i in range(n_conv):
            layers += [
                nn.Conv2d(in_channels if i == 0 else n_features, n_features, 3, padding=1),
                nn.ReLU(),
                nn.BatchNorm2d(n_features),
            ]
        layers += [nn.Conv2d(n_features, n_features, 1), nn.BatchNorm2d(n_features)]
        self.layers = nn.Sequential(*layers)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Draw the weights as PyTorch's default initialisation does, from `generator`."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
                bound = 1.0 / math.sqrt(module.weight[0].numel())
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)
            elif isinstance(module, nn.BatchNorm2d):
                module.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected input of shape (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        return self.layers(x)


def superpixels(guide_chw, n_segments, compactness):
    """SLIC on the guide, labels from 0; grey and non-RGB guides are spread to [0, 100] like Lab lightness."""
    if guide_chw.shape[0] == 3:
        return slic(np.moveaxis(guide_chw, 0, -1), n_segments=n_segments, compactness=compactness,
                    start_label=0, channel_axis=-1)
    return slic(np.moveaxis(guide_chw * 100, 0, -1), n_segments=n_segments, compactness=compactness,
                start_label=0, channel_axis=-1, convert2lab=False)


def vote(labels, superpixels, n_superpixels, n_features):
    """Give every pixel the most frequent label of its superpixel (ties: the smallest label).

    `labels` and `superpixels` are flat int64 tensors on one device; the vote
    is one bincount over (superpixel, label) pairs.
    """
    counts = torch.bincount(superpixels * n_features + labels, minlength=n_superpixels * n_features)
    return counts.view(n_superpixels, n_features).argmax(1)[superpixels]


def train_step(model, optimizer, x, *, superpixels, n_superpixels, scribble_target, free_target_mask,
                continuity, autocast_dtype):
    """One self-training iteration; returns (loss, number of distinct labels, argmax labels (H, W))."""
    optimizer.zero_grad(set_to_none=True)
    with autocast(x.device.type, autocast_dtype):
        response = model(x)
    response = response.float()
    n_features = response.shape[1]
    labels = response.detach().argmax(1)[0]
    target = labels.reshape(-1)
    if superpixels is not None:
        target = vote(target, superpixels, n_superpixels, n_features)
    target = target.view(1, *labels.shape)
    if scribble_target is None:
        loss = F.cross_entropy(response, target)
    else:
        loss = SCRIBBLE_WEIGHT * F.cross_entropy(response, scribble_target, ignore_index=-1)
        if free_target_mask is not None:
            loss = loss + F.cross_entropy(response, target.masked_fill(~free_target_mask, -1), ignore_index=-1)
    if continuity > 0:
        # Mean absolute differences directly: no zero-filled targets of the response's size.
        dy = (response[:, :, 1:] - response[:, :, :-1]).abs().mean()
        dx = (response[:, :, :, 1:] - response[:, :, :, :-1]).abs().mean()
        loss = loss + continuity * (dy + dx)
    loss.backward()
    optimizer.step()
    return float(loss.detach()), int(torch.unique(labels).numel()), labels


class Relabel:
    """Maps network channels to output labels: scribble classes keep the user's numbers, the rest follow."""

    def __init__(self, classes, spatial_shape):
        self.classes = classes
        self.spatial_shape = spatial_shape

    def __call__(self, channel_labels):
        channel_labels = np.asarray(channel_labels)
        h, w = channel_labels.shape
        if (h, w) != tuple(self.spatial_shape):
            rows = np.arange(self.spatial_shape[0]) * h // self.spatial_shape[0]
            cols = np.arange(self.spatial_shape[1]) * w // self.spatial_shape[1]
            channel_labels = channel_labels[np.ix_(rows, cols)]
        present, inverse = np.unique(channel_labels, return_inverse=True)
        m = self.classes.size
        first_free = int(self.classes.max()) + 1 if m else 1
        lookup = np.empty(present.size, np.int32)
        lookup[present < m] = self.classes[present[present < m]]
        lookup[present >= m] = first_free + np.arange(np.count_nonzero(present >= m))
        return lookup[inverse].reshape(channel_labels.shape)


def final_labels(model, x, spatial_shape, autocast_dtype):
    """Argmax of one more forward pass, the response interpolated to full size first if fitted smaller."""
    with torch.no_grad(), autocast(x.device.type, autocast_dtype):
        response = model(x).float()
        if tuple(response.shape[2:]) != tuple(spatial_shape):
            response = F.interpolate(response, size=tuple(spatial_shape), mode="bilinear", align_corners=False)
        return response.argmax(1)[0].cpu().numpy()
