"""The public surface: a small top level, moved names, shared checks, the encoder contract."""

from __future__ import annotations

import importlib
import re
import warnings

import numpy as np
import pytest
import torch

import aimclr
from aimclr._checks import check_int, check_positive, check_probability
from aimclr.errors import AimCLRError

TOP_LEVEL = {
    "AimCLR", "AimCLRError", "AimCLROutput", "AimCLRWarning", "COCO_17", "EADM", "KINECT_V1",
    "LAYOUTS", "NTU_RGBD", "NTU_RGBD_ANATOMICAL", "NonFiniteInputError", "OPENPOSE_18",
    "PRESETS", "STGCN", "SkeletonEncoder", "SkeletonLayout", "SmallDataWarning", "__version__",
    "get_layout", "to_bone", "to_motion", "to_stream",
}  # fmt: skip

MOVED = {
    "adjacency": "aimclr.graph",
    "D3MLoss": "aimclr.losses",
    "InfoNCELoss": "aimclr.losses",
    "NNMLoss": "aimclr.losses",
    "contrastive_logits": "aimclr.losses",
    "d3m_loss": "aimclr.losses",
    "info_nce": "aimclr.losses",
    "mine_neighbors": "aimclr.losses",
    "nnm_loss": "aimclr.losses",
    "attention_drop": "aimclr.nn",
    "simam_attention": "aimclr.nn",
    "ProjectionHead": "aimclr.nn",
    "MomentumQueue": "aimclr.nn",
    "copy_and_freeze": "aimclr.nn",
    "update_momentum": "aimclr.nn",
}


def test_the_top_level_holds_the_model_level_names_only() -> None:
    assert set(aimclr.__all__) == TOP_LEVEL
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in aimclr.__all__:
            getattr(aimclr, name)  # every listed name is there, without a warning
    assert "simam_attention" not in dir(aimclr)


@pytest.mark.parametrize(("name", "module"), sorted(MOVED.items()))
def test_moved_names_live_in_their_module_and_warn_at_the_top(name: str, module: str) -> None:
    defined = getattr(importlib.import_module(module), name)
    assert name in importlib.import_module(module).__all__
    with pytest.warns(DeprecationWarning, match=re.escape(f"import it from {module}")):
        assert getattr(aimclr, name) is defined


def test_an_unknown_top_level_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        aimclr.nothing_here  # noqa: B018


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        (0, {}, "n must be an int >= 1, got 0"),
        (True, {}, "n must be an int >= 1, got True"),
        (2.0, {}, "n must be an int >= 1, got 2.0"),
        (torch.tensor(3), {}, "n must be an int >= 1, got tensor(3)"),
        (6, {"maximum": 5}, "n must be an int in [1, 5], got 6"),
        (-1, {"minimum": 0, "meaning": "an epoch"}, "n must be an int >= 0 (an epoch), got -1"),
    ],
)
def test_check_int_refuses_non_integers_and_out_of_range(
    value: object, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(AimCLRError, match=f"^{re.escape(message)}$"):
        check_int(value, "n", **kwargs)  # type: ignore[arg-type]


def test_check_int_accepts_python_and_numpy_integers() -> None:
    assert check_int(3, "n") == 3
    value = check_int(np.int64(4), "n", 1, 4)
    assert value == 4 and type(value) is int


@pytest.mark.parametrize("check", [check_positive, check_probability])
def test_number_checks_refuse_strings_and_bools_with_an_aimclr_error(check: object) -> None:
    for bad in ("0.5", True, None):
        with pytest.raises(AimCLRError, match="p must be"):
            check(bad, "p")  # type: ignore[operator]
