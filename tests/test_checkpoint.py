"""Reference checkpoints: name translation, loading, error messages, round trips."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from aimclr import AimCLR, AimCLRError
from aimclr.checkpoint import (
    convert_reference_encoder,
    convert_reference_pretrain,
    load_reference_encoder,
    to_reference_pretrain,
)
from aimclr.nn import STGCN, ProjectionHead


def linear_eval_checkpoint(state: dict[str, torch.Tensor], classes: int = 60) -> dict[str, Any]:
    """A reference linear-evaluation state dict (179 entries) built from a pre-training one."""
    out = {k: v for k, v in state.items() if k.startswith("encoder_q.")
           and not k.startswith("encoder_q.fc.")}  # fmt: skip
    out["encoder_q.fc.weight"] = torch.randn(classes, 256)
    out["encoder_q.fc.bias"] = torch.randn(classes)
    return out


def test_pretrain_conversion_names_and_shapes(reference_case: dict[str, Any]) -> None:
    state = reference_case["state_dict"]
    assert len(state) == 364
    converted = convert_reference_pretrain(state)
    assert len(converted) == 364
    assert converted["queue.keys"].shape == (512, 128)
    torch.testing.assert_close(converted["queue.keys"], state["queue"].t())
    assert converted["queue.ptr"].dtype == torch.int64 and converted["queue.ptr"].shape == (1,)
    for prefix, head in (("encoder_q.", "head_q."), ("encoder_k.", "head_k.")):
        encoder, projection = STGCN(), ProjectionHead()
        encoder.load_state_dict({k[len(prefix):]: v for k, v in converted.items()
                                 if k.startswith(prefix)})  # fmt: skip
        projection.load_state_dict({k[len(head):]: v for k, v in converted.items()
                                    if k.startswith(head)})  # fmt: skip
        assert torch.equal(encoder.blocks[9].tcn.conv.weight,
                           state[f"{prefix}st_gcn_networks.9.tcn.2.weight"])
        assert torch.equal(projection.fc2.weight, state[f"{prefix}fc.2.weight"])
    back = to_reference_pretrain(converted)
    assert set(back) == set(state)
    assert all(torch.equal(back[k], state[k]) for k in state)


def test_module_prefixes_are_stripped(reference_case: dict[str, Any]) -> None:
    state = {"module." + k: v for k, v in reference_case["state_dict"].items()}
    encoder, head = load_reference_encoder(state)
    assert isinstance(head, ProjectionHead)
    assert torch.equal(encoder.A, reference_case["A"])


def test_linear_eval_checkpoint_from_a_file(reference_case: dict[str, Any],
                                            tmp_path: Path) -> None:
    state = linear_eval_checkpoint(reference_case["state_dict"])
    assert len(state) == 179
    path = tmp_path / "best_model.pt"
    torch.save(state, path)
    encoder, head = load_reference_encoder(path)
    assert isinstance(head, nn.Linear) and head.out_features == 60
    assert torch.equal(head.weight, state["encoder_q.fc.weight"])
    backbone, head_state = convert_reference_encoder(state)
    assert head_state is not None and set(head_state) == {"weight", "bias"}
    assert set(backbone) == set(encoder.state_dict())


def test_backbone_only_has_no_head(reference_case: dict[str, Any]) -> None:
    state = {k: v for k, v in reference_case["state_dict"].items()
             if k.startswith("encoder_q.") and ".fc." not in k}  # fmt: skip
    encoder, head = load_reference_encoder(state)
    assert head is None and isinstance(encoder, STGCN)


def test_round_trip_of_a_fresh_encoder() -> None:
    """Sizes are read from the tensors: a standard-width ST-GCN without edge importance."""
    torch.manual_seed(0)
    encoder = STGCN(hidden_channels=8, hidden_dim=32, edge_importance=False,
                    temporal_kernel_size=5)
    model = AimCLR.preset("aimclr", encoder, feature_dim=6, queue_size=4)
    inverse = to_reference_pretrain(model.state_dict())
    # 4h = hidden_dim: the last block has an identity residual, as the reference builds it.
    assert "encoder_q.st_gcn_networks.9.residual.0.weight" not in inverse
    assert "encoder_q.st_gcn_networks.7.residual.0.weight" in inverse
    loaded, head = load_reference_encoder(inverse)
    assert isinstance(head, ProjectionHead) and loaded.edge_importance is None
    x = torch.randn(2, 3, 12, 25, 1)
    torch.testing.assert_close(loaded.eval()(x), encoder.eval()(x))


def test_missing_keys_are_listed(reference_case: dict[str, Any]) -> None:
    state = dict(reference_case["state_dict"])
    del state["encoder_q.st_gcn_networks.3.tcn.2.bias"]
    del state["encoder_q.edge_importance.7"]
    message = ("missing reference encoder entries: encoder_q.st_gcn_networks.3.tcn.2.bias, "
               "encoder_q.edge_importance.7")
    with pytest.raises(AimCLRError, match=re.escape(message)):
        convert_reference_encoder(state)
    del state["encoder_q.fc.2.bias"]
    listed = "encoder_q.edge_importance.7, encoder_q.fc.2.bias"
    with pytest.raises(AimCLRError, match=re.escape(listed)):
        convert_reference_encoder(state)
    del state["queue_ptr"]
    with pytest.raises(AimCLRError, match="missing reference pre-training entries: queue_ptr"):
        convert_reference_pretrain(state)


def test_unknown_keys_are_listed(reference_case: dict[str, Any]) -> None:
    state = dict(reference_case["state_dict"])
    state["encoder_q.extra.weight"] = torch.zeros(1)
    with pytest.raises(AimCLRError, match=re.escape("unknown reference encoder entries: "
                                                    "encoder_q.extra.weight")):
        load_reference_encoder(state)
    state.pop("encoder_q.extra.weight")
    state["optimizer.lr"] = torch.zeros(1)
    with pytest.raises(AimCLRError, match=re.escape("unknown reference pre-training entries: "
                                                    "optimizer.lr")):
        convert_reference_pretrain(state)
    with pytest.raises(AimCLRError, match=re.escape("without a reference counterpart: blob")):
        to_reference_pretrain({"blob": torch.zeros(1)})
    with pytest.raises(AimCLRError, match=re.escape("no entry starts with 'encoder_x.'")):
        convert_reference_encoder(state, prefix="encoder_x.")


def test_adjacency_and_shapes_are_checked(reference_case: dict[str, Any]) -> None:
    state = dict(reference_case["state_dict"])
    anatomical = r"differs from the one of layout 'ntu-rgb\+d-anatomical'"
    with pytest.raises(AimCLRError, match=anatomical):
        load_reference_encoder(state, layout="ntu-rgb+d-anatomical")
    with pytest.raises(AimCLRError, match=r"layout 'coco-17' has V = 17"):
        load_reference_encoder(state, layout="coco-17")
    state["encoder_q.data_bn.weight"] = torch.ones(74)
    with pytest.raises(AimCLRError, match=r"cannot load the encoder weights: .*data_bn\.weight"):
        load_reference_encoder(state)


def test_export_refuses_an_incomplete_model_and_a_bad_pointer(
    reference_case: dict[str, Any],
) -> None:
    library = convert_reference_pretrain(reference_case["state_dict"])
    query_only = {k: v for k, v in library.items() if not k.startswith(("encoder_k.", "head_k."))}
    with pytest.raises(AimCLRError, match=r"incomplete: no entry starts with 'encoder_k\.'"):
        to_reference_pretrain(query_only)
    one_missing = {k: v for k, v in library.items() if k != "encoder_q.blocks.3.tcn.conv.weight"}
    with pytest.raises(AimCLRError, match=re.escape("encoder_q.st_gcn_networks.3.tcn.2.weight")):
        to_reference_pretrain(one_missing)
    size = library["queue.keys"].shape[0]
    expected = re.escape(f"queue_ptr must be one integer in [0, K = {size})")
    for pointer in (torch.tensor([size]), torch.tensor([1.5]), torch.tensor([0, 1])):
        with pytest.raises(AimCLRError, match=expected):
            convert_reference_pretrain({**reference_case["state_dict"], "queue_ptr": pointer})
