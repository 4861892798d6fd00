"""``python -m aimclr.data.prepare {ntu60,ntu120,pku1,pku2} RAW [RAW ...] OUT [options]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from aimclr.data.prepare.benchmarks import BENCHMARKS
from aimclr.data.prepare.convert import prepare
from aimclr.data.prepare.pku import PkuLayout
from aimclr.errors import AimCLRError

_DESCRIPTION = """\
Convert raw NTU RGB+D 60 / 120 or PKU-MMD Part I / II skeletons into the reference
training arrays, one folder per benchmark: OUT/<benchmark>/{train,val}_data.npy
(N, 3, 300, 25, 2), {train,val}_position.npy and _motion.npy (N, 3, FRAMES, 25, 2),
{train,val}_label.npy and {train,val}_label.pkl. Benchmarks: ntu60 xsub xview,
ntu120 xsub xset, pku1/pku2 xsub xview.

RAW for ntu60/ntu120: the folder(s) of .skeleton files. RAW for pku1/pku2: the
download folder holding the skeleton folder (PKU_Skeleton_Renew/ or skeleton/),
the label folder (Train_Label_PKU_final/ or label/) and the split files (Part I:
cross-subject.txt, cross-view.txt; Part II: cross_subject_v2.txt,
cross_view_v2.txt), or name the three with --skeletons/--labels/--splits.
"""


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m aimclr.data.prepare", description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dataset", choices=tuple(BENCHMARKS))
    parser.add_argument("raw", nargs="+", type=_folder, metavar="RAW",
                        help="raw folder(s); NTU-120 may be given as its two download folders")
    parser.add_argument("out", type=_folder, metavar="OUT", help="output folder")
    parser.add_argument("--ignore", type=Path, metavar="FILE",
                        help="sample names to leave out, one per line (e.g. NTU's samples "
                             "with missing skeletons)")
    parser.add_argument("--benchmarks", nargs="+", metavar="NAME",
                        help="benchmarks to prepare (default: all of the data set)")
    parser.add_argument("--frames", type=int, default=50,
                        help="frames of the *_position/_motion arrays (default 50, the "
                             "reference); 0 writes none")
    parser.add_argument("--no-full-length", dest="full_length", action="store_false",
                        help="do not write the 300-frame *_data.npy arrays")
    parser.add_argument("--workers", type=int, default=None,
                        help="parsing processes (default: one per CPU; 1: no subprocess)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="skip malformed files and list them in the summary")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace outputs that exist already")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    for name in ("skeletons", "labels", "splits"):
        parser.add_argument(f"--{name}", type=Path, metavar="DIR",
                            help=f"PKU-MMD: the {name[:-1]} folder (default: found under RAW)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (0 done, 2 bad input, 1 a system error)."""
    args = build_parser().parse_args(argv)
    try:
        raw = _raw_argument(args)
        summary = prepare(
            args.dataset, raw, args.out, ignore=args.ignore, benchmarks=args.benchmarks,
            frames=args.frames, full_length=args.full_length, workers=args.workers,
            skip_bad=args.skip_bad, overwrite=args.overwrite, progress=not args.quiet,
        )
    except AimCLRError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # disk full, a file too large for the file system, permissions
        print(f"error: writing under {str(args.out)!r}: {err}", file=sys.stderr)
        return 1
    except MemoryError:
        print("error: out of memory; lower --workers or --frames", file=sys.stderr)
        return 1
    print(summary.format())
    return 0


def _folder(text: str) -> Path:
    """An argparse ``type=`` for folder paths: ``""`` would silently mean the current one."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a folder, got {text!r}")
    return Path(text)


def _raw_argument(args: argparse.Namespace) -> list[Path] | Path | PkuLayout:
    overrides = {name: getattr(args, name) for name in ("skeletons", "labels", "splits")}
    if args.dataset.startswith("ntu"):
        if any(overrides.values()):
            raise AimCLRError("--skeletons, --labels and --splits are for pku1 / pku2")
        return list(args.raw)
    if len(args.raw) != 1:
        raise AimCLRError(f"{args.dataset} takes one RAW folder, got {len(args.raw)}")
    root = Path(args.raw[0])
    if not any(overrides.values()):
        return root
    part = 1 if args.dataset == "pku1" else 2
    found: dict[str, Path] = {}
    for name, value in overrides.items():
        found[name] = (Path(getattr(PkuLayout.discover(args.raw[0], part), name))
                       if value is None else Path(value))
    return PkuLayout(**found)


if __name__ == "__main__":
    sys.exit(main())
