"""Skeleton data: datasets, the reference preprocessing and a synthetic action set.

* :mod:`aimclr.data.arrays` — :class:`SkeletonNpyDataset` (the preprocessed
  NTU / PKU-MMD ``.npy`` + label pickle, memory-mapped) and
  :class:`SkeletonTensorDataset` (arrays in memory).
* :mod:`aimclr.data.preprocess` — centring, resizing, yaw alignment (spec §1.2).
* :mod:`aimclr.data.ragged` — variable-length sequences and the ``.npz`` format.
* :mod:`aimclr.data.synthetic` — the built-in synthetic action set.
* :mod:`aimclr.data.subsets` — class-balanced label subsets (semi-supervised).
* :mod:`aimclr.data.sources` — :func:`open_dataset`: train / test sets named by a
  spec string (``"synthetic"``, ``"ntu:DIR"``, a ``.npz`` file).
"""

from aimclr.data.arrays import SkeletonNpyDataset, SkeletonTensorDataset, load_label_file
from aimclr.data.preprocess import (
    align_yaw,
    center_on_joint,
    pad_persons,
    preprocess_sample,
    resize_sequence,
    sequence_to_ctvm,
    valid_length,
)
from aimclr.data.ragged import RaggedSkeletons, load_npz, split_by_style, style_indices
from aimclr.data.sources import (
    SHORT_RUN_SYNTHETIC,
    DatasetSplits,
    open_dataset,
    parse_synthetic_options,
)
from aimclr.data.subsets import class_balanced_subset
from aimclr.data.synthetic import (
    SYNTHETIC_CLASSES,
    SyntheticActionDataset,
    make_synthetic_actions,
    rest_pose,
)

__all__ = [
    "SHORT_RUN_SYNTHETIC",
    "SYNTHETIC_CLASSES",
    "DatasetSplits",
    "RaggedSkeletons",
    "SkeletonNpyDataset",
    "SkeletonTensorDataset",
    "SyntheticActionDataset",
    "align_yaw",
    "center_on_joint",
    "class_balanced_subset",
    "load_label_file",
    "load_npz",
    "make_synthetic_actions",
    "open_dataset",
    "pad_persons",
    "parse_synthetic_options",
    "preprocess_sample",
    "resize_sequence",
    "rest_pose",
    "sequence_to_ctvm",
    "split_by_style",
    "style_indices",
    "valid_length",
]
