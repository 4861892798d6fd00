"""The AimCLR model: reference parity, step semantics, ablation switches, checkpoints."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from aimclr import AimCLRError
from aimclr._autocast import autocast_dtype
from aimclr.model import PRESETS, AimCLR, AimCLROutput
from aimclr.nn.stgcn import STGCN

SHAPE = (4, 3, 16, 25, 2)  # (N, C, T, V, M)


def tiny_encoder(seed: int = 0, dropout: float = 0.0) -> STGCN:
    torch.manual_seed(seed)
    return STGCN(hidden_channels=4, hidden_dim=16, dropout=dropout)


def tiny(name: str = "aimclr", seed: int = 0, **kwargs: Any) -> AimCLR:
    kwargs = {"feature_dim": 8, "queue_size": 24, "mining_epoch": 2, **kwargs}
    generator = torch.Generator().manual_seed(seed + 1)
    return AimCLR.preset(
        name,
        tiny_encoder(seed),
        queue_generator=generator,  # type: ignore[arg-type]
        **kwargs,
    )


def three_views(seed: int = 0, shape: tuple[int, ...] = SHAPE) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    base = torch.randn(shape, generator=generator)
    return [base + 0.1 * torch.randn(shape, generator=generator) for _ in range(3)]


class FlatEncoder(nn.Module):
    """A plain encoder without features()/pool() and without BatchNorm or dropout."""

    def __init__(self, in_features: int, out_features: int = 6) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.linear(x.flatten(1)))


# ----------------------------------------------------------------------------- reference parity


def test_a_failed_reference_load_leaves_the_model_unchanged(
    reference_case: dict[str, Any],
) -> None:
    state = reference_case["state_dict"]
    size = AimCLR.from_reference(state).queue.size
    torch.manual_seed(0)
    model = AimCLR.preset("aimclr", queue_size=size // 2)  # the queue shape differs
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(AimCLRError, match=r"nothing was loaded.*queue\.keys: \(\d+, \d+\) in"):
        model.load_reference_state_dict(state)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_forward_matches_the_reference(reference_case: dict[str, Any], mode: str) -> None:
    case = reference_case[mode]
    state = reference_case["state_dict" if mode == "eval" else "state_dict_train"]
    # The fixture's k comes from the stored key encoder: in train mode, momentum 1
    # makes the update a no-op so the step sees the same key encoder.
    kwargs = {"dropout": 0.5} if mode == "eval" else {"dropout": 0.0, "momentum": 1.0}
    model = AimCLR.from_reference(state, **kwargs).train(mode == "train")
    start = {k: v.clone() for k, v in model.state_dict().items()}
    tol = {"rtol": 0.0, "atol": 1e-5}
    views = (case["x_extreme"], case["x_query"], case["x_key"])
    for epoch, top_k in ((150, 1), (151, 1), (151, 2)):  # stage 1, then stage 2 (NNM)
        model.load_state_dict(start)  # undo the previous step's updates
        model.nnm_top_k = top_k
        out = model(*views, epoch=epoch)
        torch.testing.assert_close(out.logits, case["logits"], **tol)
        torch.testing.assert_close(out.d3m_extreme, case["loss_d3m_extreme"], **tol)
        torch.testing.assert_close(out.d3m_extreme_drop, case["loss_d3m_extreme_drop"], **tol)
        if epoch == 150:
            torch.testing.assert_close(out.info_nce, case["loss_infonce"], **tol)
            torch.testing.assert_close(out.loss, case["loss_stage1"], **tol)
        else:
            assert out.pos_mask is not None
            assert torch.equal(out.pos_mask, case[f"pos_mask_top{top_k}"].bool())
            torch.testing.assert_close(out.nnm, case[f"loss_nnm_top{top_k}"], **tol)
            torch.testing.assert_close(out.loss, case[f"loss_stage2_top{top_k}"], **tol)
        if mode == "train":  # the keys went into rows 0-3
            torch.testing.assert_close(model.queue.keys[:4], case["k"], **tol)
            assert int(model.queue.ptr) == 4
        else:
            torch.testing.assert_close(model.queue.keys, state["queue"].T, rtol=0, atol=0)


def test_reference_checkpoint_round_trip(reference_case: dict[str, Any]) -> None:
    state = reference_case["state_dict"]
    model = AimCLR.from_reference(state)
    assert (model.queue.size, model.feature_dim, model.encoder_dim) == (512, 128, 256)
    again = AimCLR(STGCN(), queue_size=512)
    again.load_reference_state_dict(state)
    for name, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[name]), name
    with pytest.raises(AimCLRError, match="cannot load the reference checkpoint"):
        AimCLR(STGCN(), queue_size=64).load_reference_state_dict(state)


# ------------------------------------------------------------------------------- construction


def test_key_side_starts_as_a_frozen_exact_copy() -> None:
    model = tiny()
    for query, key in ((model.encoder_q, model.encoder_k), (model.head_q, model.head_k)):
        q_state, k_state = query.state_dict(), key.state_dict()
        assert list(q_state) == list(k_state)
        assert all(torch.equal(q_state[n], k_state[n]) for n in q_state)
        assert all(p.requires_grad for p in query.parameters())
        assert not any(p.requires_grad for p in key.parameters())
    names = set(model.state_dict())
    assert {"queue.keys", "queue.ptr", "head_q.fc1.weight", "encoder_k.A"} <= names
    assert not any(n.startswith("eadm") for n in names)  # EADM has no state
    assert model.queue.keys.shape == (24, 8)


def test_default_configuration_is_the_paper_s() -> None:
    model = AimCLR()
    assert (model.feature_dim, model.queue.size, model.momentum, model.temperature) == (
        128,
        32768,
        0.999,
        0.07,
    )
    assert (model.extreme_views, model.use_d3m, model.use_eadm, model.use_nnm) == (
        True,
        True,
        True,
        True,
    )
    assert (model.nnm_top_k, model.nnm_reduction, model.mining_epoch) == (1, "mean", 150)
    assert model.encoder_dim == 256 and model.head_q.fc1.out_features == 256


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"extreme_views": False, "use_eadm": False, "use_d3m": True},
            "use_d3m=True needs extreme_views=True (D3M compares the views)",
        ),
        (
            {"use_d3m": False, "use_eadm": True},
            "use_eadm=True needs use_d3m=True (the EADM-dropped view only enters D3M)",
        ),
        ({"momentum": 1.5}, "momentum must lie in [0, 1], got 1.5"),
        ({"temperature": 0.0}, "temperature must be a positive finite number, got 0.0"),
        ({"nnm_reduction": "max"}, "nnm_reduction must be 'mean' or 'sum', got 'max'"),
        ({"nnm_top_k": 0}, "nnm_top_k must be an int >= 1, got 0"),
        ({"nnm_top_k": 30, "queue_size": 24}, "nnm_top_k must not exceed queue_size = 24, got 30"),
    ],
)
def test_inconsistent_configurations_raise(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(AimCLRError, match=f"^{re.escape(message)}$"):
        AimCLR(tiny_encoder(), **{"queue_size": 24, **kwargs})


def test_plain_encoders_work_without_eadm_and_say_so_with_it() -> None:
    encoder = FlatEncoder(3 * 16 * 25 * 2)
    with pytest.raises(
        AimCLRError,
        match=re.escape(
            "use_eadm=True needs an encoder with the split feature path of "
            "aimclr.nn.FeatureMapEncoder (features(x) -> (N·M, D_enc, T', V) and "
            "pool(feature_map, M) -> (N, D_enc)); FlatEncoder lacks features and pool: add "
            "them or pass use_eadm=False"
        ),
    ):
        AimCLR(encoder, queue_size=24, encoder_dim=6)
    with pytest.raises(AimCLRError, match="cannot tell the output width of FlatEncoder: pass"):
        AimCLR.preset("d3m", encoder, queue_size=24)
    model = AimCLR.preset("d3m", encoder, queue_size=24, encoder_dim=6, feature_dim=4)
    out = model(*three_views())
    assert out.d3m_extreme is not None and out.d3m_extreme_drop is None
    assert torch.isfinite(out.loss)


def test_presets_set_the_switches_of_table_1() -> None:
    assert list(PRESETS) == ["skeletonclr", "extreme_only", "d3m", "d3m_eadm", "aimclr"]
    for name, switches in PRESETS.items():
        model = AimCLR.preset(name, tiny_encoder(), queue_size=24)  # type: ignore[arg-type]
        assert {k: getattr(model, k) for k in switches} == switches, name
        assert (model.eadm is not None) == switches["use_eadm"]
    # One constructor per preset: the alias classmethods (named unlike the keys) are gone.
    for alias in ("skeletonclr", "extreme_only", "with_d3m", "with_d3m_eadm", "full"):
        assert not hasattr(AimCLR, alias), alias
    with pytest.raises(AimCLRError, match=re.escape("preset 'd3m' sets ['use_nnm'] itself")):
        AimCLR.preset("d3m", tiny_encoder(), use_nnm=True)
    with pytest.raises(AimCLRError, match="unknown preset 'simclr'"):
        AimCLR.preset("simclr")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ ablations


def test_skeletonclr_uses_only_normal_views_and_info_nce() -> None:
    model = tiny("skeletonclr").eval()
    x_e, x_q, x_k = three_views()
    out = model(None, x_q, x_k, epoch=10)
    assert out.info_nce is not None and torch.equal(out.loss, out.info_nce)
    assert out.nnm is None and out.d3m is None and out.d3m_extreme is None
    assert out.d3m_extreme_drop is None and out.pos_mask is None
    assert torch.equal(model(x_e, x_q, x_k, epoch=10).loss, out.loss)  # x_extreme ignored
    assert list(out.losses()) == ["loss", "info_nce"]


def test_extreme_only_is_skeletonclr_with_the_extreme_view_as_query() -> None:
    x_e, _, x_k = three_views()
    extreme = tiny("extreme_only").eval()(x_e, None, x_k)
    baseline = tiny("skeletonclr").eval()(None, x_e, x_k)
    torch.testing.assert_close(extreme.loss, baseline.loss)
    assert extreme.d3m is None and extreme.info_nce is not None


def test_d3m_without_eadm_has_one_extreme_term() -> None:
    x_e, x_q, x_k = three_views()
    out = tiny("d3m").eval()(x_e, x_q, x_k)
    with_eadm = tiny("d3m_eadm").eval()(x_e, x_q, x_k)
    assert out.d3m_extreme_drop is None and out.d3m is out.d3m_extreme
    assert out.info_nce is not None and out.d3m_extreme is not None
    torch.testing.assert_close(out.loss, out.info_nce + out.d3m_extreme)
    torch.testing.assert_close(out.d3m_extreme, with_eadm.d3m_extreme)  # same q_e path
    assert with_eadm.d3m_extreme_drop is not None and with_eadm.d3m is not None
    torch.testing.assert_close(
        with_eadm.d3m, 0.5 * (with_eadm.d3m_extreme + with_eadm.d3m_extreme_drop)
    )
    assert not torch.equal(with_eadm.d3m_extreme, with_eadm.d3m_extreme_drop)  # EADM dropped


def test_nnm_starts_after_the_mining_epoch_only_with_use_nnm() -> None:
    views = three_views()
    stage1 = tiny("aimclr").eval()(*views, epoch=2)
    stage2 = tiny("aimclr").eval()(*views, epoch=3)
    assert stage1.nnm is None and stage1.pos_mask is None and stage1.info_nce is not None
    assert stage2.info_nce is None and stage2.nnm is not None and stage2.pos_mask is not None
    assert stage2.pos_mask.shape == (4, 25) and bool(stage2.pos_mask[:, 0].all())
    assert 2 <= int(stage2.pos_mask.sum(dim=1).min()) <= int(stage2.pos_mask.sum(dim=1).max()) <= 4
    assert list(stage2.losses()) == [
        "loss", "nnm", "d3m", "d3m_kl", "d3m_extreme", "d3m_extreme_drop"
    ]
    torch.testing.assert_close(stage1.d3m, stage2.d3m)  # D3M does not change with the stage
    no_nnm = tiny("d3m_eadm").eval()(*views, epoch=300)
    assert no_nnm.nnm is None and no_nnm.info_nce is not None
    summed = tiny("aimclr", nnm_reduction="sum").eval()(*views, epoch=3)
    assert summed.nnm is not None and summed.nnm.item() > stage2.nnm.item()


# ------------------------------------------------------------------------------ step semantics


def test_training_step_updates_momentum_then_keys_then_queue() -> None:
    model = tiny("skeletonclr", momentum=0.0)
    with torch.no_grad():
        for p in model.encoder_q.parameters():
            p.add_(0.01)  # query and key side now differ
    _, x_q, x_k = three_views()
    out = model(None, x_q, x_k)
    # m = 0: the update copied the query side *before* the key forward.
    for q, k in zip(model.encoder_q.parameters(), model.encoder_k.parameters(), strict=True):
        assert torch.equal(q, k)
    with torch.no_grad():
        expected_keys = F.normalize(model.head_q(model.encoder_q(x_k)), dim=1)
    torch.testing.assert_close(model.queue.keys[:4], expected_keys)
    assert int(model.queue.ptr) == 4 and out.loss.requires_grad


def test_logits_use_the_queue_before_this_step_s_keys() -> None:
    _, x_q, x_k = three_views(shape=(4, 2, 2, 2, 1))
    torch.manual_seed(0)
    model = AimCLR.preset(
        "skeletonclr", FlatEncoder(8), encoder_dim=6, feature_dim=4, queue_size=8
    )
    before = model.queue.keys.clone()
    out = model(None, x_q, x_k)  # training mode: enqueues the 4 keys into rows 0-3
    with torch.no_grad():
        q = F.normalize(model.head_q(model.encoder_q(x_q)), dim=1)
    torch.testing.assert_close(out.logits[:, 1:], q @ before.T / 0.07)
    # Next step, same inputs: row n now holds k_n, so its logit equals the positive's.
    second = model(None, x_q, x_k)
    torch.testing.assert_close(second.logits[:, 1:5].diagonal(), second.logits[:, 0])


def test_eval_mode_changes_no_state() -> None:
    model = tiny().eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model(*three_views(), epoch=5)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())


@pytest.mark.parametrize(
    ("views", "message"),
    [
        (
            (None, torch.zeros(SHAPE), torch.zeros(SHAPE)),
            "x_extreme is required by this configuration, got None",
        ),
        (
            (torch.zeros(SHAPE), torch.zeros(SHAPE), torch.zeros(3, 3, 16, 25, 2)),
            "all views must have the same batch size N, got x_key (3, 3, 16, 25, 2), "
            "x_query (4, 3, 16, 25, 2), x_extreme (4, 3, 16, 25, 2)",
        ),
        (
            (torch.zeros(SHAPE), torch.zeros(SHAPE), torch.zeros(4, 3, 16, 25)),
            "x_key must have layout (N, C, T, V, M), got shape (4, 3, 16, 25), dtype torch.float32",
        ),
        ((torch.zeros(SHAPE),) * 3 + (0,), "epoch must be an int >= 1, got 0"),
        (
            (torch.zeros(SHAPE), torch.zeros(SHAPE), torch.zeros(SHAPE, dtype=torch.float64)),
            "all views must have the same dtype, got x_key torch.float64, "
            "x_query torch.float32, x_extreme torch.float32",
        ),
        (
            (torch.zeros(SHAPE, device="meta"),) * 3,
            "the views (N, C, T, V, M) must be on the model's device cpu, got "
            "shape (4, 3, 16, 25, 2), dtype torch.float32 on meta",
        ),
        (
            (torch.zeros(SHAPE), torch.zeros(SHAPE), torch.zeros(SHAPE, dtype=torch.int64)),
            "x_key must be a floating tensor (float16, bfloat16, float32 or float64), got "
            "shape (4, 3, 16, 25, 2), dtype torch.int64",
        ),
        (
            (torch.zeros(SHAPE), torch.zeros(SHAPE), torch.zeros(4, 2, 16, 25, 2)),
            "x_key: x must have layout (N, C, T, V, M) with C = 3, V = 25 (layout "
            "'ntu-rgb+d'), got shape (4, 2, 16, 25, 2), dtype torch.float32",
        ),
    ],
)
def test_bad_inputs_raise_before_any_state_changes(views: tuple[Any, ...], message: str) -> None:
    model = tiny()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x_e, x_q, x_k, *epoch = views
    with pytest.raises(AimCLRError, match=f"^{re.escape(message)}$"):
        model(x_e, x_q, x_k, epoch=epoch[0] if epoch else 1)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())


def test_batch_larger_than_the_queue_raises_before_any_state_changes() -> None:
    model = tiny(queue_size=3, nnm_top_k=1)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(
        AimCLRError, match=re.escape("the batch size N = 4 must lie in [1, queue_size K = 3]")
    ):
        model(*three_views())
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())


# ------------------------------------------------------------------------- checkpoints, usage


def test_state_dict_round_trip_reproduces_outputs() -> None:
    model = tiny()
    for epoch in (1, 2, 3):
        model(*three_views(epoch), epoch=epoch)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    restored = tiny(seed=7)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    views = three_views(99)
    for m in (model, restored):
        m.eval()
    a, b = model(*views, epoch=3), restored(*views, epoch=3)
    assert torch.equal(a.loss, b.loss) and torch.equal(a.logits, b.logits)
    model.train(), restored.train()
    model(*views, epoch=3), restored(*views, epoch=3)
    assert torch.equal(model.queue.keys, restored.queue.keys)
    assert torch.equal(model.queue.ptr, restored.queue.ptr)


def test_a_few_optimisation_steps_lower_the_loss() -> None:
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    data = torch.randn(128, 3, 8, 25, 1, generator=generator)

    def views(i: int) -> list[torch.Tensor]:
        x = data[8 * i : 8 * i + 8]
        return [x + 0.05 * torch.randn(x.shape, generator=generator) for _ in range(3)]

    model = AimCLR.preset(
        "d3m_eadm",
        STGCN(hidden_channels=4, hidden_dim=16, dropout=0.0),
        feature_dim=8,
        queue_size=32,
        momentum=0.9,
        queue_generator=torch.Generator().manual_seed(1),
    )
    optimiser = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    with torch.no_grad():  # fill the queue with real keys first
        for i in range(4):
            model(*views(i))
    losses = []
    for i in range(4, 16):
        out = model(*views(i))
        optimiser.zero_grad()
        out.loss.backward()
        optimiser.step()
        losses.append(out.loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    first, last = sum(losses[:3]) / 3, sum(losses[-4:]) / 4
    assert last < 0.85 * first, losses
    assert all(p.grad is None for p in model.encoder_k.parameters())


def test_embed_returns_pooled_encoder_features() -> None:
    model = tiny().eval()
    x = three_views()[0]
    features = model.embed(x)
    assert features.shape == (4, 16)
    torch.testing.assert_close(features, model.encoder_q(x))


def test_sync_key_encoder_copies_the_query_side() -> None:
    model = tiny()
    with torch.no_grad():
        for p in model.head_q.parameters():
            p.mul_(2.0)
    model.sync_key_encoder()
    for q, k in zip(model.head_q.parameters(), model.head_k.parameters(), strict=True):
        assert torch.equal(q, k)


def test_compile_features_wraps_only_the_backbones() -> None:
    # Compiling is lazy (it happens at the first call, which needs minutes on a CPU),
    # so this checks the wiring: both encoders' features, nothing in the state dict.
    model = tiny()
    keys = set(model.state_dict())
    originals = [model.encoder_q.features, model.encoder_k.features]
    with pytest.warns(UserWarning, match="compile on a GPU"):
        model.compile_features()
    for encoder, original in zip((model.encoder_q, model.encoder_k), originals, strict=True):
        assert encoder.features._torchdynamo_orig_callable == original
    assert set(model.state_dict()) == keys


def test_compile_features_refuses_cuda_graphs_off_cuda() -> None:
    model = tiny()
    features = model.encoder_q.features
    with pytest.raises(AimCLRError, match="records CUDA graphs, but the model is on cpu"):
        model.compile_features(mode="reduce-overhead")
    assert model.encoder_q.features == features  # nothing wrapped


def test_compile_features_needs_a_feature_path() -> None:
    model = AimCLR.preset("skeletonclr", FlatEncoder(8), encoder_dim=6, feature_dim=4,
                          queue_size=8)  # fmt: skip
    with pytest.raises(AimCLRError, match="FlatEncoder lacks features and pool"):
        model.compile_features()


def test_autocast_dtype_follows_the_active_autocast() -> None:
    assert autocast_dtype("cpu") is None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert autocast_dtype("cpu") == torch.bfloat16
        assert autocast_dtype("cuda") is None
    assert autocast_dtype("cpu") is None


def test_queue_cast_once_under_autocast_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    # The model casts the queue to the autocast dtype once per step; autocast would
    # cast it to the same dtype inside every product, so every loss stays bit-equal.
    model = tiny().eval()
    views = three_views()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        once = model(*views, epoch=3).losses()
        monkeypatch.setattr("aimclr.model.autocast_dtype", lambda device_type: None)
        per_product = model(*views, epoch=3).losses()
    assert once.keys() == per_product.keys()
    for name in once:
        assert torch.equal(once[name], per_product[name]), name


def test_bfloat16_autocast_step_is_finite() -> None:
    model = tiny()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out: AimCLROutput = model(*three_views(), epoch=3)
    assert all(torch.isfinite(v) for v in out.losses().values())
    assert model.queue.keys.dtype == torch.float32
    out.loss.backward()


# ---------------------------------------------------------------------------- encoder contract


class FeaturePathOnly(nn.Module):
    """A third-party encoder with features/pool but neither out_channels nor check_input."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, kernel_size=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, v, m = x.shape
        return torch.relu(self.conv(x.permute(0, 4, 1, 2, 3).reshape(n * m, c, t, v)))

    def pool(self, feature_map: torch.Tensor, num_persons: int) -> torch.Tensor:
        pooled = feature_map.mean(dim=(2, 3))
        return pooled.view(-1, num_persons, pooled.shape[1]).mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x), x.shape[-1])


class FrameEncoder(FeaturePathOnly):
    """A third-party encoder with the full contract (out_channels, check_input, features, pool)."""

    out_channels = 6

    def check_input(self, x: torch.Tensor) -> None:
        if x.shape[1] != 3:
            raise ValueError(f"expected 3 coordinate channels, got {x.shape[1]}")


def test_a_third_party_encoder_with_the_full_contract_gets_eadm_and_checked_views() -> None:
    from aimclr.nn import SkeletonEncoder, encoder_width

    assert isinstance(STGCN(), SkeletonEncoder) and isinstance(FrameEncoder(), SkeletonEncoder)
    assert not isinstance(FlatEncoder(8), SkeletonEncoder)
    torch.manual_seed(0)
    model = AimCLR(FrameEncoder(), feature_dim=4, queue_size=16)
    assert model.encoder_dim == 6 == encoder_width(model.encoder_q)
    out = model(*three_views())
    assert out.d3m_extreme_drop is not None and torch.isfinite(out.loss)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x_e, x_q, x_k = three_views()
    message = "x_extreme: expected 3 coordinate channels, got 2"
    with pytest.raises(AimCLRError, match=f"^{re.escape(message)}$"):
        model(x_e[:, :2], x_q, x_k)  # the encoder's ValueError, named after the view
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    with pytest.raises(AimCLRError, match=r"encoder_dim = 5 contradicts FrameEncoder\.out_chan"):
        AimCLR(FrameEncoder(), encoder_dim=5, queue_size=16)


def test_an_eadm_inside_the_encoder_stays_out_of_the_key_encoder() -> None:
    from aimclr.nn import EADM, attach_eadm, copy_and_freeze

    encoder = tiny_encoder()
    attach_eadm(encoder.blocks[8])
    without, with_eadm = copy_and_freeze(encoder, without=EADM), copy_and_freeze(encoder)
    model = AimCLR.preset("d3m", encoder, feature_dim=8, queue_size=24, momentum=1.0)
    assert isinstance(model.encoder_q.blocks[8].eadm, EADM)
    assert not any(isinstance(m, EADM) for m in model.encoder_k.modules())
    assert list(model.encoder_k.state_dict()) == list(model.encoder_q.state_dict())
    x_e, x_q, x_k = three_views()
    model(x_e, x_q, x_k)
    with torch.no_grad():  # train mode: BatchNorm uses the batch, EADM would drop
        expected = F.normalize(model.head_k(without.train()(x_k)), dim=1)
        dropped = F.normalize(model.head_k(with_eadm.train()(x_k)), dim=1)
    torch.testing.assert_close(model.queue.keys[:4], expected)  # keys are not dropped
    assert not torch.allclose(dropped, expected)


# ------------------------------------------------------------------------ validation per step


def test_a_step_validates_once_and_calls_no_checking_function_inside(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import aimclr.losses
    import aimclr.nn.momentum
    from aimclr.nn.queue import MomentumQueue

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a checking public function ran inside the step")

    for name in ("contrastive_logits", "info_nce_from_logits", "d3m_loss", "mine_neighbors",
                 "nnm_loss", "_check_embeddings", "_check_logits"):  # fmt: skip
        monkeypatch.setattr(aimclr.losses, name, forbidden)
    monkeypatch.setattr(aimclr.nn.momentum, "update_momentum", forbidden)
    monkeypatch.setattr(aimclr.nn.momentum, "_matched", forbidden)
    monkeypatch.setattr(MomentumQueue, "enqueue", forbidden)
    monkeypatch.setattr(MomentumQueue, "_check_keys", forbidden)
    calls: list[str] = []
    encoder = tiny_encoder()
    original = encoder.check_input
    monkeypatch.setattr(encoder, "check_input", lambda x: calls.append("x") or original(x))
    model = AimCLR.preset("aimclr", encoder, feature_dim=8, queue_size=24, mining_epoch=1)
    for epoch in (1, 2):  # InfoNCE, then NNM
        calls.clear()
        model(*three_views(), epoch=epoch)
        # Three views: checked once each at the boundary, and once more by STGCN.features
        # itself for the query, extreme and key forwards (the encoder's own public entry).
        assert len(calls) == 6


def test_an_empty_batch_is_refused_before_any_state_changes() -> None:
    model = AimCLR.preset("skeletonclr", FlatEncoder(8), encoder_dim=6, feature_dim=4,
                          queue_size=8)  # fmt: skip
    empty = torch.zeros(0, 2, 2, 2, 1)
    with pytest.raises(AimCLRError, match=re.escape("the batch size N = 0 must lie in [1, ")):
        model(None, empty, empty)


def test_one_nan_sample_changes_the_model_unless_the_finite_check_is_on() -> None:
    from aimclr.errors import NonFiniteInputError
    from aimclr.model import check_finite_views

    views = three_views()
    views[1][2, 0, 5, 3, 1] = float("nan")  # one sample of x_query
    unchecked = tiny()
    unchecked(*views)
    bn = unchecked.encoder_q.data_bn.running_mean
    assert not bool(torch.isfinite(bn).all())  # what the check prevents
    model = tiny(check_finite_inputs=True)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    message = (
        "non-finite values (NaN or inf) in x_query (shape (4, 3, 16, 25, 2), dtype "
        "torch.float32) at index [2]; nothing was changed, the batch can be skipped"
    )
    with pytest.raises(NonFiniteInputError, match=f"^{re.escape(message)}$"):
        model(*views)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    model(*three_views(1))  # the loop skips the bad batch and goes on
    floating = [v for v in model.state_dict().values() if v.is_floating_point()]
    assert all(torch.isfinite(v).all() for v in floating)
    with pytest.raises(NonFiniteInputError, match=re.escape("x_query (shape")):
        check_finite_views({"x_extreme": None, "x_query": views[1]})
    check_finite_views({"x": views[0]})


def test_d3m_kl_is_logged_beside_the_cross_entropy() -> None:
    from aimclr.losses import contrastive_logits, d3m_loss

    model = tiny("d3m").eval()
    _, x_q, x_k = three_views()
    x_e = three_views(seed=5)[0]  # an unrelated sample: the distributions differ
    out = model(x_e, x_q, x_k)
    assert out.d3m is not None and out.d3m_kl is not None and not out.d3m_kl.requires_grad
    with torch.no_grad():
        q = F.normalize(model.head_q(model.encoder_q(x_q)), dim=1)
        q_e = F.normalize(model.head_q(model.encoder_q(x_e)), dim=1)
        k = F.normalize(model.head_k(model.encoder_k(x_k)), dim=1)
        queue = model.queue.negatives()
        logits, logits_e = contrastive_logits(q, k, queue), contrastive_logits(q_e, k, queue)
    expected = d3m_loss(logits=logits_e, target_logits=logits, divergence="kl")
    torch.testing.assert_close(out.d3m_kl, expected, rtol=0, atol=1e-5)
    assert 0 < float(out.d3m_kl) < float(out.d3m.detach())
    assert tiny("skeletonclr").eval()(None, x_q, x_k).d3m_kl is None


def test_a_training_step_reads_no_tensor_value() -> None:
    # On the meta device any .item(), bool(tensor) or .tolist() raises: a step that runs
    # there (forward and backward, both stages) never synchronises a GPU for its checks.
    model = tiny("aimclr", mining_epoch=1).to("meta")
    views = [torch.empty(SHAPE, device="meta") for _ in range(3)]
    for epoch in (1, 2):
        out = model(*views, epoch=epoch)
        out.loss.backward()
    model.check_finite_inputs = True  # the documented exception: one synchronisation
    with pytest.raises(RuntimeError, match="meta tensors"):
        model(*views, epoch=2)


def test_each_member_of_the_contract_adds_its_capability_on_its_own() -> None:
    from aimclr.nn import FeatureMapEncoder, InputCheckingEncoder, SkeletonEncoder, WidthEncoder

    encoder = FeaturePathOnly()
    assert isinstance(encoder, FeatureMapEncoder)
    assert not isinstance(encoder, (InputCheckingEncoder, WidthEncoder, SkeletonEncoder))
    torch.manual_seed(0)
    model = AimCLR(encoder, feature_dim=4, queue_size=16, encoder_dim=6)  # EADM: features/pool
    out = model(*three_views())
    assert out.d3m_extreme_drop is not None and torch.isfinite(out.loss)
    # Without check_input only the common layout is checked: a 2-channel view reaches the
    # encoder's first layer and fails there, not in AimCLR's validation.
    x_e, x_q, x_k = three_views()
    with pytest.raises(RuntimeError):
        model(x_e[:, :2], x_q[:, :2], x_k[:, :2], epoch=1)


class NarrowPool(FeaturePathOnly):
    """A third-party encoder whose pool returns fewer features than its width says."""

    out_channels = 6

    def pool(self, feature_map: torch.Tensor, num_persons: int) -> torch.Tensor:
        return super().pool(feature_map, num_persons)[:, :3]


class NarrowPoolOnly(NarrowPool):
    """As NarrowPool, but its forward pools correctly: only the EADM path meets pool."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return FeaturePathOnly.pool(self, self.features(x), x.shape[-1])


@pytest.mark.parametrize(("encoder", "call"), [(NarrowPool, r"forward\(x\)"),
                                               (NarrowPoolOnly, r"pool\(feature_map, M\)")])
def test_an_encoder_returning_the_wrong_width_is_named(encoder: type[nn.Module],
                                                       call: str) -> None:
    model = AimCLR.preset("aimclr", encoder(), feature_dim=4, queue_size=16)
    views = [torch.randn(2, 3, 8, 25, 1) for _ in range(3)]
    with pytest.raises(AimCLRError, match=rf"encoder's {call} must return pooled features "
                                          r"\(N, D_enc\) with D_enc = 6.*got shape \(2, 3\)"):
        model(*views, epoch=1)
