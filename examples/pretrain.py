"""Pre-train an encoder with AimCLR (or one of its ablations), then evaluate it.

With no arguments this is the README's main job: a short run on the built-in
synthetic action set on the CPU, then a kNN / linear evaluation of the pretrained
encoder next to a randomly initialised one and a raw-coordinate 1-NN baseline.

    python examples/pretrain.py                                  # the main job
    python examples/pretrain.py --data ../shared/data/bandai2.npz \
        --test-styles masculine,normal,youthful                 # real motion capture
    python examples/pretrain.py --data ntu:/path/to/NTU60/xsub --preset aimclr \
        --hidden-dim 256 --dropout 0.5 --epochs 300 --batch-size 128 \
        --lr 0.1 --lr-steps 250 --momentum 0.999 --queue-size 32768 \
        --mining-epoch 150                                      # the paper's recipe
    torchrun --nproc-per-node 2 examples/pretrain.py             # DDP (gloo on CPU)

The script only assembles library parts: data (:mod:`aimclr.data`), batched view
transforms on the training device (:mod:`aimclr.transforms`), streams
(:mod:`aimclr.streams`), the model (:class:`aimclr.AimCLR`), evaluation
(:mod:`aimclr.eval`) and checkpoint helpers (:mod:`aimclr.training`).

Outputs in ``--workdir``: ``metrics.jsonl`` (one JSON object per epoch with every
loss term, the learning rate, throughput and kNN accuracy when measured),
``last.pt`` (model, queue, optimiser, epoch and RNG states; written atomically every
epoch, ``--resume`` continues from it) and ``results.json`` (final evaluation).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Sequence, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler

from aimclr import AimCLR, AimCLRError, to_stream
from aimclr.cpu import retain_freed_memory
from aimclr.data import (
    SkeletonNpyDataset,
    SkeletonTensorDataset,
    SyntheticActionDataset,
    load_npz,
    split_by_style,
)
from aimclr.eval import extract_features, knn_accuracy, linear_evaluation
from aimclr.nn import STGCN
from aimclr.training import (
    NonFiniteLossError,
    check_finite_losses,
    get_rng_state,
    load_checkpoint,
    save_checkpoint,
    seed_everything,
    set_rng_state,
    step_lr,
)
from aimclr.transforms import AimCLRViews, normal_view

# --------------------------------------------------------------------------- arguments
#: The main job's synthetic data: view, body-shape and timing vary in the ways the
#: augmentations model (yaw, skew), while instance-specific distractors (held gestures,
#: random sway, bone-length jitter) are kept small, so a short CPU run learns actions.
MAIN_JOB_SYNTHETIC: dict[str, Any] = {
    "max_yaw_deg": 20.0, "shear": 0.6, "bone_jitter": 0.02, "size_range": (0.95, 1.05),
    "gesture_prob": 0.0, "distractor_deg": 5.0,
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options; the defaults are the README's main job."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = p.add_argument
    add("--data", default="synthetic",
        help="'synthetic', a .npz file in the shared/data format, or 'ntu:DIR' holding "
             "train/val_position.npy (or _data.npy) and train/val_label.pkl")
    add("--train-samples", type=int, default=1600, help="synthetic set: training samples")
    add("--test-samples", type=int, default=800, help="synthetic set: held-out samples")
    add("--synthetic", action="append", default=[], metavar="NAME=VALUE",
        help="synthetic set: a keyword of aimclr.data.make_synthetic_actions, e.g. "
             f"max_yaw_deg=30 (repeatable; the main job uses {MAIN_JOB_SYNTHETIC})")
    add("--test-styles", default="masculine,normal,youthful",
        help=".npz data: comma-separated styles held out for testing")
    add("--frames", type=int, default=25,
        help="frames T per sample of synthetic and .npz data (reference: 50); NTU arrays "
             "keep their stored T")
    add("--persons", type=int, default=None,
        help="persons M per sample of synthetic and .npz data (default 1); NTU arrays keep "
             "their stored M")
    add("--stream", choices=("joint", "bone", "motion"), default="joint")
    add("--preset", choices=("skeletonclr", "extreme_only", "d3m", "d3m_eadm", "aimclr"),
        default="aimclr", help="row of the paper's Table 1")
    add("--aug-codes", default="12345",
        help="extreme augmentations after Crop+Shear, in the reference's order: 1 flip, "
             "2 rotate, 3 noise, 4 blur, 5 axis mask, 6 time flip; 'paper' = the paper's "
             "eight in the paper's order (time flip before noise)")
    add("--hidden-channels", type=int, default=16)
    add("--hidden-dim", type=int, default=64, help="encoder output width (reference: 256)")
    add("--feature-dim", type=int, default=128)
    add("--dropout", type=float, default=0.0, help="dropout in ST-GCN blocks (reference: 0.5)")
    add("--epochs", type=int, default=32, help="(reference: 300)")
    add("--batch-size", type=int, default=32, help="(reference: 128)")
    add("--lr", type=float, default=0.05, help="(reference: 0.1)")
    add("--lr-steps", default="26",
        help="comma-separated epochs after which lr *= 0.1 (reference: 250)")
    add("--momentum", type=float, default=0.99, help="key encoder momentum (reference: 0.999)")
    add("--temperature", type=float, default=0.07)
    add("--queue-size", type=int, default=512, help="(reference: 32768)")
    add("--mining-epoch", type=int, default=16,
        help="NNM replaces InfoNCE after this epoch (reference: 150)")
    add("--topk", type=int, default=1, help="NNM neighbours per query")
    add("--knn-every", type=int, default=8, help="kNN monitor every N epochs (0: off)")
    add("--linear-epochs", type=int, default=100, help="final linear probe epochs (0: off)")
    add("--workdir", default="runs/pretrain")
    add("--resume", action="store_true", help="continue from WORKDIR/last.pt")
    add("--seed", type=int, default=0)
    add("--device", default="auto", help="'auto' (CUDA when present), 'cpu', 'cuda', ...")
    add("--amp", choices=("auto", "off", "bf16", "fp16"), default="auto",
        help="autocast precision; 'auto' = bf16 on CUDA, off on CPU")
    add("--compile", choices=("off", "default", "reduce-overhead"), default="off",
        help="torch.compile the encoders' feature extraction with this mode; "
             "'reduce-overhead' (CUDA graphs) suits small GPU batches")
    add("--threads", type=int, default=None, help="CPU threads (torch.set_num_threads)")
    add("--workers", type=int, default=0, help="DataLoader worker processes")
    add("--quiet", action="store_true", help="no per-epoch progress lines")
    args = p.parse_args(argv)
    args.lr_steps = [int(s) for s in args.lr_steps.split(",") if s.strip()]
    return args


# --------------------------------------------------------------------------- runtime
@dataclass
class Runtime:
    """Where this process runs: device, DDP rank and world size, autocast dtype."""

    device: torch.device
    rank: int
    world_size: int
    amp_dtype: torch.dtype | None

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_runtime(args: argparse.Namespace) -> Runtime:
    """Pick the device, join the process group under ``torchrun``, choose autocast."""
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    rank, world_size = 0, 1
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        rank, world_size = dist.get_rank(), dist.get_world_size()
    amp = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}.get(args.amp)
    if args.amp == "auto":
        amp = torch.bfloat16 if device.type == "cuda" else None
    return Runtime(device, rank, world_size, amp)


# --------------------------------------------------------------------------- data
@dataclass
class Data:
    """A training set (labels only used by the kNN monitor) and a held-out test set."""

    train: Dataset[Any]
    test: Dataset[Any]
    num_classes: int
    name: str


def load_data(args: argparse.Namespace) -> Data:
    """Build the train/test datasets named by ``--data``; every error comes before training."""
    if args.data == "synthetic":
        persons = args.persons or 1
        common = {"num_frames": args.frames, "num_persons": persons,
                  **MAIN_JOB_SYNTHETIC, **_synthetic_options(args.synthetic)}
        train = SyntheticActionDataset(args.train_samples, seed=args.seed, **common)
        test = SyntheticActionDataset(args.test_samples, seed=args.seed + 10_000, **common)
        return Data(train, test, len(train.class_names), "synthetic")
    if args.data.startswith("ntu:"):
        folder = Path(args.data[4:])
        return Data(_ntu_split(folder, "train"), _ntu_split(folder, "val"),
                    0, f"NTU arrays in {folder}")
    path = Path(args.data)
    if path.suffix != ".npz":
        raise AimCLRError(
            f"--data must be 'synthetic', 'ntu:DIR' or a .npz file, got {args.data!r}"
        )
    skeletons = load_npz(path)
    train_idx, test_idx = split_by_style(skeletons, args.test_styles.split(","))
    persons = args.persons or 1
    # World coordinates centred per frame on the spine-shoulder; yaw alignment would
    # erase the turning that separates walk / walk-turn-left / walk-turn-right.
    convert = {"num_frames": args.frames, "num_persons": persons, "align": False}
    return Data(skeletons.select(train_idx).to_dataset(**convert),
                skeletons.select(test_idx).to_dataset(**convert),
                len(skeletons.class_names), path.name)


def _synthetic_options(options: Sequence[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for option in options:
        name, _, value = option.partition("=")
        if not value:
            raise AimCLRError(f"--synthetic takes NAME=VALUE, got {option!r}")
        # Ranges such as size_range=[0.9,1.1] are JSON lists; the generator wants tuples.
        parsed[name.strip()] = (tuple(json.loads(value)) if value[0] == "["
                                else float(value))
    return parsed


def _ntu_split(folder: Path, part: str) -> SkeletonNpyDataset:
    for name in (f"{part}_position.npy", f"{part}_data.npy"):
        if (folder / name).exists():
            return SkeletonNpyDataset(folder / name, folder / f"{part}_label.pkl")
    raise AimCLRError(f"no {part}_position.npy or {part}_data.npy in {folder}")


def num_classes_of(data: Data) -> int:
    """Class count, read from the labels where the data source does not name it."""
    if data.num_classes:
        return data.num_classes
    labels = [int(label) for dataset in (data.train, data.test)
              for label in getattr(dataset, "labels", [])]
    return max(labels) + 1 if labels else 1


def training_loader(dataset: Dataset[Any], args: argparse.Namespace, runtime: Runtime,
                    epoch: int) -> DataLoader[Any]:
    """Shuffled batches whose order depends only on (seed, epoch): resumable."""
    generator = torch.Generator().manual_seed(_epoch_seed(args.seed, epoch))
    sampler: DistributedSampler[Any] | RandomSampler
    if runtime.world_size > 1:
        sampler = DistributedSampler(dataset, runtime.world_size, runtime.rank,
                                     shuffle=True, seed=args.seed, drop_last=True)
        sampler.set_epoch(epoch)
    else:
        sampler = RandomSampler(cast(Sized, dataset), generator=generator)
    return DataLoader(dataset, args.batch_size, sampler=sampler, drop_last=True,
                      num_workers=args.workers, pin_memory=runtime.device.type == "cuda")


def _epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    return (seed * 1_000_003 + epoch * 7919 + rank * 104_729) % 2**63


# --------------------------------------------------------------------------- model
def build_encoder(args: argparse.Namespace) -> STGCN:
    return STGCN("ntu-rgb+d", hidden_channels=args.hidden_channels, hidden_dim=args.hidden_dim,
                 dropout=args.dropout)


def build_model(args: argparse.Namespace) -> AimCLR:
    return AimCLR.preset(
        args.preset,
        build_encoder(args),
        feature_dim=args.feature_dim,
        queue_size=args.queue_size,
        momentum=args.momentum,
        temperature=args.temperature,
        **({"mining_epoch": args.mining_epoch, "nnm_top_k": args.topk}
           if args.preset == "aimclr" else {}),
        queue_generator=torch.Generator().manual_seed(args.seed),
    )


class ViewMaker:
    """The three views of a batch, drawn on the batch's device, then the stream."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.normal = normal_view()
        codes = None if args.aug_codes == "paper" else args.aug_codes
        # All three views in one fused call; SkeletonCLR draws only the two normal ones.
        self.all_three = AimCLRViews(codes) if args.preset != "skeletonclr" else None
        self.stream = args.stream

    def __call__(self, x: torch.Tensor, generator: torch.Generator
                 ) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        x_extreme: torch.Tensor | None = None
        if self.all_three is not None:
            x_extreme, x_query, x_key = self.all_three(x, generator=generator)
        else:
            x_query = self.normal(x, generator=generator)
            x_key = self.normal(x, generator=generator)
        views = [None if v is None else to_stream(v, self.stream) for v in
                 (x_extreme, x_query, x_key)]
        return views[0], views[1], views[2]  # type: ignore[return-value]


# --------------------------------------------------------------------------- training
def train_one_epoch(
    model: nn.Module, loader: DataLoader[Any], views: ViewMaker,
    optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None,
    runtime: Runtime, epoch: int, generator: torch.Generator,
) -> dict[str, float]:
    """One pass over the loader; returns the mean of every loss term."""
    model.train()
    totals: dict[str, float] = {}
    steps = 0
    autocast = (torch.autocast(runtime.device.type, dtype=runtime.amp_dtype)
                if runtime.amp_dtype is not None else contextlib.nullcontext())
    for step, (x, _) in enumerate(loader, start=1):
        x = x.to(runtime.device, non_blocking=True).float()
        x_extreme, x_query, x_key = views(x, generator)
        with autocast:
            out = model(x_extreme, x_query, x_key, epoch=epoch)
        losses = out.losses()
        check_finite_losses(losses, f"epoch {epoch}, step {step}", all_ranks=True)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(out.loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            out.loss.backward()
            optimizer.step()
        for name, value in losses.items():
            totals[name] = totals.get(name, 0.0) + float(value)
        steps += 1
    if steps == 0:
        raise AimCLRError(
            f"the training set has fewer samples than one batch of {loader.batch_size} "
            "per process; lower --batch-size"
        )
    return {name: total / steps for name, total in totals.items()}


def evaluation_features(encoder: nn.Module, data: Data, stream: str, device: torch.device
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pooled encoder features of the (un-augmented) train and test sets."""
    def features(dataset: Dataset[Any]) -> tuple[torch.Tensor, torch.Tensor]:
        loader = DataLoader(dataset, batch_size=256)
        batches = ((to_stream(x.float(), stream), y) for x, y in loader)
        feats, labels = extract_features(encoder, batches, device=device)
        assert labels is not None
        return feats.cpu(), labels.cpu()

    train_x, train_y = features(data.train)
    test_x, test_y = features(data.test)
    return train_x, train_y, test_x, test_y


def knn_report(encoder: nn.Module, data: Data, stream: str, device: torch.device,
               num_classes: int) -> dict[str, float]:
    train_x, train_y, test_x, test_y = evaluation_features(encoder, data, stream, device)
    return {
        "knn200": knn_accuracy(train_x, train_y, test_x, test_y, k=200, temperature=0.1,
                               num_classes=num_classes),
        "knn1": knn_accuracy(train_x, train_y, test_x, test_y, k=1, num_classes=num_classes),
    }


def raw_nearest_neighbour(data: Data, stream: str, num_classes: int) -> float:
    """1-NN accuracy on the raw (stream) coordinates: what needs no learning at all."""
    flatten = nn.Flatten()
    train_x, train_y, test_x, test_y = evaluation_features(flatten, data, stream,
                                                           torch.device("cpu"))
    return _euclidean_1nn(train_x, train_y, test_x, test_y)


def _euclidean_1nn(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
                   test_y: torch.Tensor) -> float:
    correct = 0
    for chunk, labels in zip(torch.split(test_x, 512), torch.split(test_y, 512), strict=True):
        nearest = torch.cdist(chunk, train_x).argmin(dim=1)
        correct += int((train_y[nearest] == labels).sum())
    return correct / len(test_y)


# --------------------------------------------------------------------------- main loop
def run(args: argparse.Namespace) -> dict[str, Any]:
    """Pre-train, then evaluate; returns the final results (also in results.json)."""
    runtime = setup_runtime(args)
    workdir = Path(args.workdir)
    log = _Logger(workdir, runtime.is_main, args.quiet)
    data = load_data(args)
    num_classes = num_classes_of(data)
    seed_everything(args.seed)
    core = build_model(args).to(runtime.device)
    parameters = [p for p in core.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(parameters, lr=args.lr, momentum=0.9, weight_decay=1e-4)
    scaler = (torch.amp.GradScaler(runtime.device.type)
              if runtime.amp_dtype == torch.float16 else None)
    start_epoch = 1
    checkpoint_path = workdir / "last.pt"
    if args.resume:
        state = load_checkpoint(checkpoint_path, map_location=runtime.device)
        check_resumable(state.get("args", {}), args, checkpoint_path)
        core.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scaler is not None and "scaler" in state:
            scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        start_epoch = int(state["epoch"]) + 1
        log.info(f"resumed from {checkpoint_path} after epoch {start_epoch - 1}")
    if args.compile != "off":
        core.compile_features(mode=args.compile)
    model: nn.Module = core
    if runtime.world_size > 1:
        model = DistributedDataParallel(
            core, device_ids=[runtime.device.index] if runtime.device.type == "cuda" else None)
    views = ViewMaker(args)
    log.info(
        f"{args.preset} on {data.name} ({len(cast(Sized, data.train))} train / "
        f"{len(cast(Sized, data.test))} test "
        f"samples, {num_classes} classes), stream {args.stream}, {runtime.device}, "
        f"{runtime.world_size} process(es), amp {runtime.amp_dtype}"
    )

    for epoch in range(start_epoch, args.epochs + 1):
        started = time.perf_counter()
        lr = step_lr(epoch, args.lr, args.lr_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        # Every random draw of an epoch derives from (seed, epoch, rank), so a resumed
        # run repeats exactly what the uninterrupted one would have done.
        torch.manual_seed(_epoch_seed(args.seed, epoch, runtime.rank))
        generator = torch.Generator().manual_seed(_epoch_seed(args.seed + 1, epoch, runtime.rank))
        loader = training_loader(data.train, args, runtime, epoch)
        losses = train_one_epoch(model, loader, views, optimizer, scaler, runtime,
                                 epoch, generator)
        seconds = time.perf_counter() - started
        record: dict[str, Any] = {"epoch": epoch, "lr": lr, **losses, "seconds": seconds,
                                  "samples_per_s": len(loader) * args.batch_size
                                  * runtime.world_size / seconds}
        if runtime.is_main:
            if args.knn_every and (epoch % args.knn_every == 0 or epoch == args.epochs):
                record.update(knn_report(core.encoder_q, data, args.stream, runtime.device,
                                         num_classes))
            save_checkpoint(
                {"model": core.state_dict(), "optimizer": optimizer.state_dict(),
                 "epoch": epoch, "rng": get_rng_state(), "args": vars(args),
                 **({"scaler": scaler.state_dict()} if scaler is not None else {})},
                checkpoint_path,
            )
        log.epoch(record, args.epochs)

    results: dict[str, Any] = {}
    if runtime.is_main:
        results = final_evaluation(args, core, data, num_classes, runtime)
        log.results(results)
    if runtime.world_size > 1:
        dist.barrier()
        dist.destroy_process_group()
    return results


#: Options that define the run a checkpoint belongs to: the model's shapes, its loss,
#: the data and the views. The schedule (epochs, lr, ...) may change on resume.
RUN_DEFINING = ("data", "train_samples", "test_samples", "synthetic", "test_styles", "frames",
                "persons", "stream", "preset", "aug_codes", "hidden_channels", "hidden_dim",
                "feature_dim", "dropout", "temperature", "queue_size", "topk", "seed")


def check_resumable(saved: dict[str, Any], args: argparse.Namespace, path: Path) -> None:
    """Raise unless ``args`` continue the run saved with options ``saved``.

    A model of other shapes would fail deep inside ``load_state_dict``; other data,
    views or losses would silently continue a different run.
    """
    changed = [f"--{name.replace('_', '-')} {saved[name]!r} -> {getattr(args, name)!r}"
               for name in RUN_DEFINING if name in saved and saved[name] != getattr(args, name)]
    if changed:
        raise AimCLRError(
            f"{path} belongs to a run with other options ({'; '.join(changed)}); pass the "
            "saved values to resume it, or choose another --workdir"
        )


def final_evaluation(args: argparse.Namespace, core: AimCLR, data: Data, num_classes: int,
                     runtime: Runtime) -> dict[str, Any]:
    """kNN and linear probe of the pretrained encoder, a random one, and raw 1-NN."""
    seed_everything(args.seed + 1)
    random_encoder = build_encoder(args).to(runtime.device)
    results: dict[str, Any] = {"preset": args.preset, "data": data.name, "stream": args.stream,
                               "epochs": args.epochs, "seed": args.seed}
    if args.linear_epochs:
        train = stream_dataset(data.train, args.stream)
        test = stream_dataset(data.test, args.stream)
    for name, encoder in (("pretrained", core.encoder_q), ("random", random_encoder)):
        scores = knn_report(encoder, data, args.stream, runtime.device, num_classes)
        if args.linear_epochs:
            linear = linear_evaluation(
                encoder, train, test, num_classes,
                epochs=args.linear_epochs, milestones=(int(args.linear_epochs * 0.8),),
                device=runtime.device, generator=torch.Generator().manual_seed(args.seed))
            scores["linear_best"] = linear.best_top1
            scores["linear_last"] = linear.last_top1
        results[name] = scores
    results["raw_1nn"] = raw_nearest_neighbour(data, args.stream, num_classes)
    return results


def stream_dataset(dataset: Dataset[Any], stream: str) -> Dataset[Any]:
    """``dataset`` with every sample converted to ``stream`` (the joint stream as is)."""
    if stream == "joint":
        return dataset
    loader = DataLoader(dataset, batch_size=512)
    xs, ys = zip(*((to_stream(x.float(), stream), y) for x, y in loader), strict=True)
    return SkeletonTensorDataset(torch.cat(xs), torch.cat(ys))


class _Logger:
    """Progress lines on stdout and metrics.jsonl / results.json in the workdir (rank 0)."""

    def __init__(self, workdir: Path, enabled: bool, quiet: bool) -> None:
        self.enabled, self.quiet = enabled, quiet
        self.workdir = workdir
        self.started = time.perf_counter()
        if enabled:
            workdir.mkdir(parents=True, exist_ok=True)

    def info(self, message: str) -> None:
        if self.enabled:
            print(message, flush=True)

    def epoch(self, record: dict[str, Any], epochs: int) -> None:
        if not self.enabled:
            return
        with open(self.workdir / "metrics.jsonl", "a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")
        if self.quiet:
            return
        elapsed = time.perf_counter() - self.started
        terms = " ".join(f"{k} {v:.3f}" for k, v in record.items()
                         if k not in ("epoch", "lr", "seconds", "samples_per_s"))
        eta = elapsed / record["epoch"] * (epochs - record["epoch"]) if record["epoch"] else 0
        print(f"epoch {record['epoch']:>3}/{epochs}  lr {record['lr']:.3g}  {terms}  "
              f"{record['samples_per_s']:.0f} samples/s  eta {_clock(eta)}", flush=True)

    def results(self, results: dict[str, Any]) -> None:
        (self.workdir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        print(format_results(results), flush=True)


def _clock(seconds: float) -> str:
    seconds = max(0, math.ceil(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def format_results(results: dict[str, Any]) -> str:
    """The final table: accuracy of each encoder under each protocol."""
    columns = [c for c in ("knn200", "knn1", "linear_best", "linear_last")
               if c in results["pretrained"]]
    lines = [f"\nheld-out accuracy ({results['data']}, {results['stream']} stream, "
             f"{results['preset']}, {results['epochs']} epochs):",
             f"  {'encoder':<22}" + "".join(f"{c:>13}" for c in columns)]
    for name in ("pretrained", "random"):
        lines.append(f"  {name:<22}" + "".join(f"{100 * results[name][c]:>12.1f}%"
                                                for c in columns))
    lines.append(f"  {'raw coordinates 1-NN':<22}{100 * results['raw_1nn']:>12.1f}%")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        run(parse_args(argv))
    except AimCLRError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except NonFiniteLossError as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    retain_freed_memory()  # a training process: reuse freed memory, no page faults
    code = main()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # Under torchrun, gloo's threads can abort the interpreter's shutdown ("terminate
        # called without an active exception") after a clean run; everything is written
        # and the process group is destroyed, so leave without the shutdown.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
