"""Skeleton data: datasets, the reference preprocessing and a synthetic action set.

* :mod:`aimclr.data.arrays` — :class:`SkeletonNpyDataset` (the preprocessed
  NTU / PKU-MMD ``.npy`` + label pickle, memory-mapped) and
  :class:`SkeletonTensorDataset` (arrays in memory).
* :mod:`aimclr.data.preprocess` — centring, resizing, yaw alignment (spec §1.2).
* :mod:`aimclr.data.ragged` — variable-length sequences and the ``.npz`` format.
* :mod:`aimclr.data.splits` — training / test splits of ragged sequences (by style,
  subject or any key, stratified random, index files, one spec string).
* :mod:`aimclr.data.sizes` — warnings when the queue or kNN's ``k`` outgrow the data,
  or a split leaves a class out of training.
* :mod:`aimclr.data.synthetic` — the built-in synthetic action set.
* :mod:`aimclr.data.subsets` — class-balanced label subsets (semi-supervised).
* :mod:`aimclr.data.prepare` — raw NTU RGB+D / PKU-MMD files to the reference arrays
  (``python -m aimclr.data.prepare``; imported on its own, not re-exported here).
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
from aimclr.data.ragged import NonFinitePolicy, RaggedSkeletons, load_npz
from aimclr.data.sizes import check_class_coverage, check_knn_k, check_queue_size
from aimclr.data.sources import (
    SHORT_RUN_SYNTHETIC,
    DatasetSplits,
    open_dataset,
    parse_synthetic_options,
)
from aimclr.data.splits import (
    SplitSpec,
    check_split,
    parse_split,
    read_index_file,
    split_by_index_file,
    split_by_key,
    split_by_style,
    split_by_subject,
    split_random,
    style_indices,
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
    "NonFinitePolicy",
    "RaggedSkeletons",
    "SkeletonNpyDataset",
    "SkeletonTensorDataset",
    "SplitSpec",
    "SyntheticActionDataset",
    "align_yaw",
    "center_on_joint",
    "check_class_coverage",
    "check_knn_k",
    "check_queue_size",
    "check_split",
    "class_balanced_subset",
    "load_label_file",
    "load_npz",
    "make_synthetic_actions",
    "open_dataset",
    "pad_persons",
    "parse_split",
    "parse_synthetic_options",
    "preprocess_sample",
    "read_index_file",
    "resize_sequence",
    "rest_pose",
    "sequence_to_ctvm",
    "split_by_index_file",
    "split_by_key",
    "split_by_style",
    "split_by_subject",
    "split_random",
    "style_indices",
    "valid_length",
]
