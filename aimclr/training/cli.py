"""Command-line pieces of a trainer: checked options, data and model from them, clean exits.

A command line built from these refuses a malformed value with a clear message and
exit code 2 before any work (argparse ``type=`` functions, then one validation pass
that raises through :meth:`argparse.ArgumentParser.error`), and
:func:`run_command` turns the library's errors into one ``error:`` line instead of
a traceback. The option groups (data, model and loss, schedule, run) build what they
describe (:func:`open_data`, :func:`build_model`), and :func:`check_resumable` decides
whether a checkpoint's run may continue with the given options (:data:`RUN_DEFINING`).
``examples/pretrain.py``, ``examples/evaluate.py`` and ``examples/three_streams.py``
are assembled from them.

Example:
    >>> parser = ArgumentParser("train.py", "Train something.")
    >>> _ = parser.add_argument("--batch-size", type=int_at_least(1), default=32,
    ...                         help="samples per step")
    >>> parser.parse_args(["--batch-size", "8"]).batch_size
    8
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import math
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import torch

from aimclr.data.sources import (
    SHORT_RUN_SYNTHETIC,
    DatasetSplits,
    open_dataset,
    parse_synthetic_options,
)
from aimclr.data.splits import parse_split
from aimclr.data.synthetic import make_synthetic_actions
from aimclr.errors import AimCLRError, AimCLRWarning
from aimclr.graph import LAYOUTS, SkeletonLayout, get_layout
from aimclr.model import PRESETS, AimCLR
from aimclr.nn.stgcn import STGCN
from aimclr.streams import STREAMS
from aimclr.training.finite import NonFiniteLossError
from aimclr.training.runtime import AMP_MODES, resolve_device
from aimclr.transforms import AimCLRViews

MAX_SEED = 2**63 - 1
"""The largest ``--seed``: seeds are stored in signed 64-bit integers (torch, numpy)."""

MAX_THREADS = 1024
"""The largest ``--threads``: far more threads than cores only slows a run down, and
OpenMP crashes the process (segmentation fault) when asked for tens of thousands."""

FLOAT32_MAX = float(torch.finfo(torch.float32).max)
"""Numbers the model computes with must fit in float32 (the optimiser's ``lr`` does)."""

__all__ = [
    "FLOAT32_MAX",
    "MAX_SEED",
    "MAX_THREADS",
    "RUN_DEFINING",
    "SCHEDULE_OPTIONS",
    "ArgumentParser",
    "add_data_options",
    "add_model_options",
    "add_run_options",
    "add_schedule_options",
    "build_encoder",
    "build_model",
    "changed_options",
    "check_data_options",
    "check_resumable",
    "check_trainer_options",
    "check_writable_folder",
    "device_name",
    "extreme_codes",
    "folder_name",
    "int_at_least",
    "int_list",
    "layout_name",
    "number_in",
    "open_data",
    "run_command",
    "split_spec",
    "synthetic_option",
]


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Every default in ``--help``; the description keeps its line breaks."""


class ArgumentParser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` for trainers.

    ``--help`` shows every option's default; option names must be written in full
    (argparse would otherwise read ``--epoch`` as ``--epochs`` silently); an unknown
    option is refused with the closest known one (``--lr-step: did you mean
    --lr-steps?``), in a message that names ``prog``.

    Args:
        prog: the program's name in usage and error lines, e.g. ``"pretrain.py"``.
        description: the text above the options.
    """

    def __init__(self, prog: str, description: str) -> None:
        super().__init__(prog=prog, description=description, formatter_class=_HelpFormatter,
                         allow_abbrev=False)  # fmt: skip

    def error(self, message: str) -> NoReturn:
        """Print usage and ``message`` (with close matches of unknown options), exit 2."""
        unknown = re.match(r"unrecognized arguments: (.*)", message)
        if unknown:
            hints = []
            for word in unknown.group(1).split():
                close = difflib.get_close_matches(word.split("=")[0],
                                                  list(self._option_string_actions), n=1)
                if word.startswith("-") and close:
                    hints.append(f"{word}: did you mean {close[0]}?")
            if hints:
                message = f"{message} ({'; '.join(hints)})"
        super().error(message)


def int_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type=`` for integers ``>= minimum`` (and ``<= maximum`` if given).

    Example:
        >>> int_at_least(1)("3")
        3
    """
    expected = (f"an integer >= {minimum}" if maximum is None
                else f"an integer in [{minimum}, {maximum}]")  # fmt: skip

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


def number_in(
    low: float, high: float = math.inf, *, low_open: bool = True, high_open: bool = True
) -> Callable[[str], float]:
    """An argparse ``type=`` for finite numbers in an interval (open ends by default).

    Example:
        >>> number_in(0, 1)("0.2"), number_in(0, 1, high_open=False)("1")
        (0.2, 1.0)
    """
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        inside = (low < value if low_open else low <= value) and (
            value < high if high_open else value <= high)  # fmt: skip
        if not math.isfinite(value) or not inside:
            raise argparse.ArgumentTypeError(
                f"expected a finite number in {interval}, got {text!r}")  # fmt: skip
        return value

    return parse


def int_list(minimum: int = 1) -> Callable[[str], list[int]]:
    """An argparse ``type=`` for comma-separated integers ``>= minimum`` (``""`` = none).

    Example:
        >>> int_list()("150,250"), int_list()("")
        ([150, 250], [])
    """

    def parse(text: str) -> list[int]:
        values = []
        for part in text.split(","):
            if not part.strip():
                continue
            try:
                value = int(part)
            except ValueError:
                value = minimum - 1
            if value < minimum:
                raise argparse.ArgumentTypeError(
                    f"expected comma-separated integers >= {minimum}, got {text!r} "
                    f"({part.strip()!r})")  # fmt: skip
            values.append(value)
        return values

    return parse


def synthetic_option(text: str) -> str:
    """An argparse ``type=`` for ``NAME=VALUE`` keywords of the synthetic set: the form
    (:func:`~aimclr.data.sources.parse_synthetic_options`) and the value (one tiny
    sample of :func:`~aimclr.data.synthetic.make_synthetic_actions` with it)."""
    try:
        make_synthetic_actions(1, num_frames=2, **parse_synthetic_options([text]))
    except AimCLRError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def split_spec(text: str) -> str:
    """An argparse ``type=`` for split specs (:func:`~aimclr.data.splits.parse_split`)."""
    try:
        parse_split(text)
    except AimCLRError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def layout_name(text: str) -> str:
    """An argparse ``type=`` for built-in layout names; returns the canonical name."""
    try:
        return get_layout(text).name
    except AimCLRError:
        raise argparse.ArgumentTypeError(
            f"unknown layout {text!r}; built-in layouts: {sorted(LAYOUTS)}") from None  # fmt: skip


def device_name(text: str) -> str:
    """An argparse ``type=`` for devices this machine has
    (:func:`~aimclr.training.runtime.resolve_device`)."""
    try:
        resolve_device(text)
    except AimCLRError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def folder_name(text: str) -> str:
    """An argparse ``type=`` for a folder to write in: any path but the empty string
    (which would silently mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a folder name, got {text!r}")
    return text


def check_writable_folder(path: str | os.PathLike[str]) -> None:
    """Raise unless ``path`` is, or can be created as, a folder this process writes in.

    Nothing is created: the nearest existing folder on the way to ``path`` must
    accept a file (an unnamed temporary is opened and dropped there).

    Raises:
        AimCLRError: a file where a folder should be, or a folder that refuses
            files (permissions, a read-only file system).
    """
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise AimCLRError(f"folder {str(path)!r} cannot be created: {str(existing)!r} is a file")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise AimCLRError(f"folder {str(path)!r} is not writable: cannot create files in "
                          f"{str(existing)!r} ({error.strerror})") from None  # fmt: skip


def add_data_options(
    parser: argparse.ArgumentParser,
    *,
    train_samples: int = 1600,
    test_samples: int = 800,
    frames: int = 25,
) -> None:
    """Add the data options of :func:`~aimclr.data.sources.open_dataset` to ``parser``.

    ``--data``, ``--train-samples``, ``--test-samples``, ``--synthetic``, ``--split``,
    ``--test-styles``, ``--layout``, ``--map-to``, ``--nonfinite``, ``--frames``,
    ``--persons``; :func:`check_data_options` checks them together after parsing
    and :func:`open_data` opens the data they name.
    """
    group = parser.add_argument_group("data")
    add = group.add_argument
    add("--data", default="synthetic",
        help="'synthetic' (built-in actions), a .npz file in the shared/data format, or "
             "'ntu:DIR' holding train/val_position.npy (or _data.npy) and train/val_label.pkl")
    add("--train-samples", type=int_at_least(1), default=train_samples,
        help="synthetic data: training samples")
    add("--test-samples", type=int_at_least(1), default=test_samples,
        help="synthetic data: held-out samples")
    add("--synthetic", type=synthetic_option, action="append", default=[],
        metavar="NAME=VALUE",
        help="synthetic data: a keyword of aimclr.data.make_synthetic_actions, e.g. "
             f"max_yaw_deg=30 (repeatable; the defaults are {SHORT_RUN_SYNTHETIC})")
    add("--split", type=split_spec, default=None, metavar="SPEC",
        help=".npz data: the test sequences, e.g. 'subject:1,2', 'style:normal', "
             "'key:views=2', 'random:0.2[,seed=N]' or 'file:PATH' (aimclr.data.parse_split); "
             "no default: a .npz file needs --split or --test-styles")
    add("--test-styles", default=None, metavar="STYLE[,STYLE...]",
        help=".npz data: styles (names or indices) held out for testing; the same as "
             "--split style:STYLES")
    add("--layout", type=layout_name, default=None,
        help=".npz data: the file's skeleton layout, overriding the one it declares "
             f"({', '.join(sorted(LAYOUTS))})")
    add("--map-to", type=layout_name, default=None, metavar="LAYOUT",
        help=".npz data: convert the joints to this layout (e.g. kinect-v1 recordings to "
             "ntu-rgb+d); default: train on the file's own layout")
    add("--nonfinite", choices=("refuse", "drop"), default="refuse",
        help=".npz data: refuse a file with NaN or infinite coordinates, or drop those "
             "sequences (with a warning that counts them)")
    add("--frames", type=int_at_least(2), default=frames,
        help="synthetic and .npz data: frames T per sample (reference: 50); NTU arrays keep "
             "their own")
    add("--persons", type=int_at_least(1), default=1,
        help="synthetic and .npz data: persons M per sample; NTU arrays keep their own")


def add_model_options(parser: argparse.ArgumentParser, *, mining_epoch: int = 16,
                      stream: bool = True) -> None:  # fmt: skip
    """Add the model and loss options (the main job's defaults) to ``parser``.

    ``--stream`` (unless ``stream=False``), ``--preset``, ``--aug-codes``,
    ``--hidden-channels``, ``--hidden-dim``, ``--feature-dim``, ``--dropout``,
    ``--temperature``, ``--queue-size``, ``--momentum``, ``--mining-epoch``, ``--topk``;
    :func:`build_model` builds what they describe.
    """
    add = parser.add_argument_group("model and loss").add_argument
    if stream:
        add("--stream", choices=STREAMS, default="joint",
            help="input stream, computed after augmentation")
    add("--preset", choices=tuple(PRESETS), default="aimclr", help="row of the paper's Table 1")
    add("--aug-codes", type=extreme_codes, default="12345",
        help="extreme augmentations after Crop+Shear, in the reference's order: 1 flip, "
             "2 rotate, 3 noise, 4 blur, 5 axis mask, 6 time flip; 'paper' = the paper's "
             "eight in the paper's order")
    add("--hidden-channels", type=int_at_least(1), default=16, help="ST-GCN base width")
    add("--hidden-dim", type=int_at_least(1), default=64,
        help="encoder output width (reference: 256)")
    add("--feature-dim", type=int_at_least(1), default=128, help="projection width")
    add("--dropout", type=number_in(0, 1, low_open=False), default=0.0,
        help="dropout in ST-GCN blocks (reference: 0.5)")
    add("--temperature", type=number_in(0, FLOAT32_MAX), default=0.07,
        help="contrastive temperature")
    add("--queue-size", type=int_at_least(1), default=512,
        help="negatives K (reference: 32768); at least one global batch")
    add("--momentum", type=number_in(0, 1, low_open=False, high_open=False), default=0.99,
        help="key encoder momentum (reference: 0.999)")
    add("--mining-epoch", type=int_at_least(0), default=mining_epoch,
        help="NNM replaces InfoNCE after this epoch (reference: 150)")
    add("--topk", type=int_at_least(1), default=1, help="NNM neighbours per query")


def add_schedule_options(parser: argparse.ArgumentParser, *, epochs: int = 32,
                         lr_steps: Sequence[int] = (26,)) -> None:  # fmt: skip
    """Add ``--epochs``, ``--batch-size``, ``--lr`` and ``--lr-steps`` to ``parser``."""
    add = parser.add_argument_group("schedule").add_argument
    add("--epochs", type=int_at_least(1), default=epochs,
        help="pre-training epochs (reference: 300)")
    add("--batch-size", type=int_at_least(1), default=32,
        help="samples per step per process (reference: 128)")
    add("--lr", type=number_in(0, FLOAT32_MAX), default=0.05,
        help="SGD learning rate (reference: 0.1)")
    add("--lr-steps", type=int_list(1), default=list(lr_steps), metavar="EPOCH[,EPOCH...]",
        help="epochs after which lr *= 0.1 (reference: 250)")


def add_run_options(parser: argparse.ArgumentParser, *, workdir: str) -> None:
    """Add ``--workdir``, ``--seed``, ``--device``, ``--amp``, ``--threads``, ``--quiet``."""
    add = parser.add_argument_group("run").add_argument
    add("--workdir", type=folder_name, default=workdir, help="folder of the run's files")
    add("--seed", type=int_at_least(0, MAX_SEED), default=0,
        help="every random draw derives from it")
    add("--device", type=device_name, default="auto",
        help="'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:INDEX', ...")
    add("--amp", choices=AMP_MODES, default="auto",
        help="autocast precision; 'auto' = bf16 on CUDA, off on CPU")
    add("--threads", type=int_at_least(1, MAX_THREADS), default=None,
        help="CPU threads (torch.set_num_threads); default: torch's")
    add("--quiet", action="store_true", help="no per-epoch progress lines")


def check_trainer_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The validation pass of a trainer's options (data, model, schedule, run).

    Runs :func:`check_data_options`, checks that ``--workdir`` can be written, that the
    queue holds one global batch (``--batch-size`` × the ``WORLD_SIZE`` processes,
    stored as ``args.processes``) and ``--topk`` keys, and that ``--resume`` and
    ``--overwrite`` (where the parser has them) are not both given; ``parser.error``
    (exit 2) otherwise.
    """
    check_data_options(parser, args)
    try:
        check_writable_folder(args.workdir)
    except AimCLRError as error:
        parser.error(f"--workdir: {error}")
    args.processes = int(os.environ.get("WORLD_SIZE", "1"))
    if args.queue_size < args.batch_size * args.processes:
        parser.error(f"--queue-size {args.queue_size} must hold one global batch (--batch-size "
                     f"{args.batch_size} x {args.processes} process(es))")  # fmt: skip
    if args.preset == "aimclr" and args.topk > args.queue_size:
        parser.error(f"--topk {args.topk} must not exceed --queue-size {args.queue_size}")
    if getattr(args, "resume", False) and getattr(args, "overwrite", False):
        parser.error("--resume continues the run in --workdir, --overwrite removes it: "
                     "choose one")  # fmt: skip


def build_encoder(args: argparse.Namespace, layout: SkeletonLayout | str = "ntu-rgb+d") -> STGCN:
    """The ST-GCN encoder that :func:`add_model_options` describe, on ``layout``."""
    return STGCN(layout, hidden_channels=args.hidden_channels, hidden_dim=args.hidden_dim,
                 dropout=args.dropout)  # fmt: skip


def build_model(args: argparse.Namespace, layout: SkeletonLayout | str = "ntu-rgb+d") -> AimCLR:
    """The :class:`~aimclr.model.AimCLR` preset that :func:`add_model_options` describe,
    around :func:`build_encoder`; its queue is drawn from ``args.seed``."""
    nnm = {"mining_epoch": args.mining_epoch, "nnm_top_k": args.topk}
    return AimCLR.preset(
        args.preset, build_encoder(args, layout), feature_dim=args.feature_dim,
        queue_size=args.queue_size, momentum=args.momentum, temperature=args.temperature,
        **(nnm if args.preset == "aimclr" else {}),
        queue_generator=torch.Generator().manual_seed(args.seed))  # fmt: skip


def extreme_codes(text: str) -> str:
    """An argparse ``type=`` for the extreme augmentation codes (``"paper"`` or digits)."""
    try:
        AimCLRViews(None if text == "paper" else text)
    except AimCLRError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def check_data_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The validation pass of the data options: what each kind of data accepts.

    Folds ``--test-styles`` into ``args.split`` (``style:...``); calls
    ``parser.error`` (exit 2) for options that do not apply to the data, both
    ``--split`` and ``--test-styles``, or a data file or folder that is missing.
    """
    data = str(args.data)
    kind = "synthetic" if data == "synthetic" else "ntu" if data.startswith("ntu:") else "npz"
    npz_only = [f"--{name.replace('_', '-')}" for name in ("split", "test_styles", "layout",
                                                            "map_to")
                if getattr(args, name) is not None]  # fmt: skip
    if kind != "npz" and npz_only:
        verb = "applies" if len(npz_only) == 1 else "apply"
        parser.error(f"{', '.join(npz_only)} {verb} to .npz data only, not to --data {data}")
    if kind != "synthetic" and args.synthetic:
        parser.error(f"--synthetic applies to --data synthetic only, not to --data {data}")
    if kind == "ntu" and not Path(data[4:]).is_dir():
        parser.error(f"--data {data}: no folder {data[4:]!r}")
    if kind == "npz":
        if Path(data).suffix != ".npz":
            parser.error(f"--data must be 'synthetic', 'ntu:DIR' or a .npz file, got {data!r}")
        if not Path(data).is_file():
            parser.error(f"--data {data}: no such file")
        if args.split is not None and args.test_styles is not None:
            parser.error("give --split or --test-styles (the same as --split style:...), "
                         "not both")  # fmt: skip
        styles = [s.strip() for s in (args.test_styles or "").split(",")]
        if args.test_styles is not None and not all(styles):
            parser.error(f"--test-styles needs comma-separated style names or indices, got "
                         f"{args.test_styles!r}")  # fmt: skip
        if args.test_styles is not None:
            args.split = "style:" + ",".join(styles)


def open_data(args: argparse.Namespace, seed: int) -> DatasetSplits:
    """:func:`~aimclr.data.sources.open_dataset` with the options of :func:`add_data_options`.

    The synthetic set uses :data:`~aimclr.data.sources.SHORT_RUN_SYNTHETIC` updated
    with ``--synthetic``; ``seed`` seeds it and a ``random:`` split without its own.
    """
    try:
        return open_dataset(
            args.data, num_frames=args.frames, num_persons=args.persons,
            train_samples=args.train_samples, test_samples=args.test_samples, seed=seed,
            synthetic={**SHORT_RUN_SYNTHETIC, **parse_synthetic_options(args.synthetic)},
            split=args.split, layout=args.layout, map_to=args.map_to,
            nonfinite="drop" if args.nonfinite == "drop" else "error")  # fmt: skip
    except AimCLRError as error:  # name the options, not the library's arguments
        if "nonfinite='drop'" in str(error):
            raise AimCLRError(f"{error} (on the command line: --nonfinite drop)") from None
        if "layout=" in str(error) and "no layout" in str(error):
            raise AimCLRError(f"{error} (on the command line: --layout NAME)") from None
        raise


RUN_DEFINING = (
    "data", "train_samples", "test_samples", "synthetic", "split", "layout", "map_to",
    "nonfinite", "frames", "persons", "stream", "preset", "aug_codes", "hidden_channels",
    "hidden_dim", "feature_dim", "dropout", "temperature", "queue_size", "momentum",
    "mining_epoch", "topk", "batch_size", "seed", "processes",
)  # fmt: skip
"""Options that define the run a checkpoint belongs to: the data, the model and its loss,
the views, the batches (``processes`` is the ``WORLD_SIZE``). :func:`check_resumable`
refuses to continue a run with other values; the training guide gives the reasons."""

SCHEDULE_OPTIONS = ("epochs", "lr", "lr_steps", "amp")
"""Options a resumed run may change, with a note (:func:`check_resumable`): the schedule
and the autocast precision. How a run is executed or reported (device, threads, workers,
compile, kNN monitor, linear probe, quiet, skip-nonfinite) may change silently."""


def check_resumable(
    saved: Mapping[str, Any],
    args: argparse.Namespace,
    data: Mapping[str, Any],
    path: str | os.PathLike[str],
    run_defining: Iterable[str] = RUN_DEFINING,
) -> list[str]:
    """Raise unless ``args`` continue the run saved with a checkpoint's entries ``saved``.

    Args:
        saved: what the checkpoint holds: its ``args`` (the saved run's options) and
            ``data`` (a summary of the data it trained on).
        args: this run's options.
        data: the summary of this run's data, as saved.
        path: the checkpoint, for messages.
        run_defining: the options that must not change.

    Returns:
        ``"--name old -> new"`` for each of :data:`SCHEDULE_OPTIONS` that changed.

    Raises:
        AimCLRError: the checkpoint has no ``args``, a run-defining option or the data
            changed (each named, with both values).
    """
    options = saved.get("args")
    if not isinstance(options, Mapping):
        raise AimCLRError(f"{path} has no 'args' entry: it was not written by a trainer of "
                          "this library, so the options of its run are unknown")  # fmt: skip
    changed = changed_options(options, vars(args), run_defining)
    if "data" in saved and saved["data"] != data:
        changed.append(f"the data {dict(saved['data'])} -> {dict(data)}")
    if changed:
        raise AimCLRError(
            f"{path} belongs to a run with other options ({'; '.join(changed)}); pass the "
            "saved values to resume it, or choose another --workdir")
    return changed_options(options, vars(args), SCHEDULE_OPTIONS)


def changed_options(
    saved: Mapping[str, Any], current: Mapping[str, Any], names: Iterable[str]
) -> list[str]:
    """``--name saved -> current`` for each of ``names`` whose value changed.

    Names that ``saved`` lacks (options added after it was written) are skipped.

    Example:
        >>> changed_options({"lr": 0.1, "seed": 0}, {"lr": 0.05, "seed": 0}, ["lr", "seed"])
        ['--lr 0.1 -> 0.05']
    """
    return [f"--{name.replace('_', '-')} {saved[name]!r} -> {current.get(name)!r}"
            for name in names if name in saved and saved[name] != current.get(name)]  # fmt: skip


@contextlib.contextmanager
def _plain_warnings() -> Iterator[None]:
    """Show the library's warnings as ``warning: message`` lines (no file and line)."""
    original = warnings.formatwarning

    def plain(message: Warning | str, category: type[Warning], filename: str, lineno: int,
              line: str | None = None) -> str:  # fmt: skip
        if issubclass(category, AimCLRWarning):
            return f"warning: {message}\n"
        return original(message, category, filename, lineno, line)

    warnings.formatwarning = plain
    try:
        yield
    finally:
        warnings.formatwarning = original


def run_command(
    parse: Callable[[Sequence[str] | None], argparse.Namespace],
    run: Callable[[argparse.Namespace], object],
    argv: Sequence[str] | None = None,
    hints: Mapping[type[BaseException], str] | None = None,
) -> int:
    """Parse, run, and turn failures into one ``error:`` line and an exit code.

    Exit codes: 0 done (or ``--help``); 2 a bad option or input
    (:class:`~aimclr.errors.AimCLRError`, argparse's own errors); 3 training stopped
    at a non-finite loss (:class:`~aimclr.training.finite.NonFiniteLossError`); 1
    an operating-system error (disk full, permissions) or memory that cannot be
    allocated (sizes too large for the machine); 130 interrupted (Ctrl-C).
    Other exceptions are bugs and keep their traceback. While ``run`` runs, the
    library's warnings (:class:`~aimclr.errors.AimCLRWarning`) print as ``warning:``
    lines.

    Args:
        parse: turns ``argv`` into options (exits 2 through argparse on bad ones).
        run: does the work.
        argv: the arguments; ``None`` = ``sys.argv[1:]``.
        hints: a further line printed after the error of these types.

    Returns:
        The exit code.
    """
    try:
        args = parse(argv)
    except SystemExit as done:  # argparse: --help (0) or a usage error (2)
        return done.code if isinstance(done.code, int) else 0 if done.code is None else 2
    error: BaseException
    try:
        with _plain_warnings():
            run(args)
        return 0
    except NonFiniteLossError as caught:
        error, code = caught, 3
    except AimCLRError as caught:
        error, code = caught, 2
    except OSError as caught:
        error, code = caught, 1
    except (MemoryError, RuntimeError) as caught:
        if not _is_out_of_memory(caught):
            raise
        error, code = AimCLRError(f"out of memory ({_out_of_memory_summary(caught)}): the "
                                  "sizes asked for do not fit this machine; choose smaller "
                                  "ones"), 1  # fmt: skip
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(f"error: {error}", file=sys.stderr)
    for kind, hint in (hints or {}).items():
        if isinstance(error, kind):
            print(hint, file=sys.stderr)
    return code


def _is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` says that memory could not be allocated (numpy's
    :class:`MemoryError`, torch's CPU allocator or CUDA out of memory)."""
    if isinstance(error, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and ("can't allocate memory" in text
                                                or "out of memory" in text)  # fmt: skip


def _out_of_memory_summary(error: BaseException) -> str:
    """The useful part of an allocation error: what was asked for, in one line."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    found = re.search(r"(tried to allocate \d+ bytes|allocate [\d.]+ [KMGT]?i?B[^.]*)", text)
    return found.group(1) if found else text[:200]
