"""From raw NTU RGB+D 60 / 120 and PKU-MMD files to the reference training arrays.

Run it as a command::

    python -m aimclr.data.prepare ntu60 RAW OUT --ignore missing_skeletons.txt

or call :func:`prepare`. The result is what the reference scripts
(``tools/ntu_gendata.py``, ``tools/pku_part*_*.py``, then
``feeder/preprocess_ntu.py``) produce, per benchmark folder ``OUT/<benchmark>/``;
``examples/pretrain.py --data ntu:OUT/xsub`` trains on it. The guide
"Preparing NTU RGB+D and PKU-MMD" walks through it.

* :mod:`aimclr.data.prepare.ntu` — NTU ``.skeleton`` names and contents.
* :mod:`aimclr.data.prepare.pku` — PKU-MMD skeleton, label and split files.
* :mod:`aimclr.data.prepare.benchmarks` — which samples train and which validate.
* :mod:`aimclr.data.prepare.convert` — :func:`prepare`, the whole conversion.
* :mod:`aimclr.data.prepare.writer` — output files with flat memory and
  temporary names.
* :mod:`aimclr.data.prepare.rawfiles` — :class:`RawDataError` and the ignore list.
* :mod:`aimclr.data.prepare.progress` — the progress bar.

Only numpy and the standard library are used.
"""

from aimclr.data.prepare.benchmarks import (
    BENCHMARKS,
    NTU60_TRAINING_CAMERAS,
    NTU60_TRAINING_SUBJECTS,
    NTU120_TRAINING_SUBJECTS,
    ntu_is_training,
)
from aimclr.data.prepare.convert import (
    DATASETS,
    FULL_FRAMES,
    PrepareSummary,
    output_files,
    prepare,
    reference_arrays,
)
from aimclr.data.prepare.ntu import (
    NtuSampleId,
    NtuSkeleton,
    parse_ntu_name,
    parse_ntu_skeleton,
    read_ntu_skeleton,
)
from aimclr.data.prepare.pku import (
    PKU_SPLIT_FILES,
    PkuInstance,
    PkuLayout,
    PkuVideo,
    cut_instance,
    parse_pku_video_name,
    pku_persons,
    read_pku_frames,
    read_pku_labels,
    read_pku_skeleton,
    read_pku_split,
)
from aimclr.data.prepare.rawfiles import RawDataError, read_ignore_list

__all__ = [
    "BENCHMARKS",
    "DATASETS",
    "FULL_FRAMES",
    "NTU60_TRAINING_CAMERAS",
    "NTU60_TRAINING_SUBJECTS",
    "NTU120_TRAINING_SUBJECTS",
    "PKU_SPLIT_FILES",
    "NtuSampleId",
    "NtuSkeleton",
    "PkuInstance",
    "PkuLayout",
    "PkuVideo",
    "PrepareSummary",
    "RawDataError",
    "cut_instance",
    "ntu_is_training",
    "output_files",
    "parse_ntu_name",
    "parse_ntu_skeleton",
    "parse_pku_video_name",
    "pku_persons",
    "prepare",
    "read_ignore_list",
    "read_ntu_skeleton",
    "read_pku_frames",
    "read_pku_labels",
    "read_pku_skeleton",
    "read_pku_split",
    "reference_arrays",
]
