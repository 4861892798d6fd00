"""Training / test splits of :class:`~aimclr.data.ragged.RaggedSkeletons`.

Every split returns ``(train_indices, test_indices)``: two ascending, disjoint
``np.intp`` arrays of sequence indices, for
:meth:`~aimclr.data.ragged.RaggedSkeletons.select`. A split that leaves either
side empty raises :class:`~aimclr.errors.AimCLRError` with both counts.

* by a per-sequence key: :func:`split_by_style` (names or indices),
  :func:`split_by_subject`, :func:`split_by_key` (any integer key of the file,
  e.g. ``views``);
* :func:`split_random`: seeded, stratified by class;
* :func:`split_by_index_file`: explicit lists of indices or sequence names;
* :func:`parse_split`: one string such as ``"subject:1,2,3"`` for all of the
  above, for a command line.

Split spec grammar (:func:`parse_split`); the values always name the **test** side,
the training side is every other sequence::

    style:S[,S...]         styles by name or index           style:masculine,normal
    subject:ID[,ID...]     performer ids (key 'subjects')     subject:1,2,3
    key:NAME=V[,V...]      any per-sequence integer key       key:views=2
    random:F[,seed=N]      share F in (0, 1) of every class   random:0.2,seed=7
    file:PATH              text or .npy file of test sequences file:test_ids.txt

The kind is case-insensitive; spaces around values are ignored. A ``random``
spec without ``seed=`` uses the ``seed`` given to :func:`parse_split`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from aimclr.data._validate import describe_array, load_npy
from aimclr.data.ragged import RaggedSkeletons
from aimclr.errors import AimCLRError

__all__ = [
    "SplitSpec",
    "check_split",
    "parse_split",
    "read_index_file",
    "split_by_index_file",
    "split_by_key",
    "split_by_style",
    "split_by_subject",
    "split_random",
    "style_indices",
]

Split = tuple[np.ndarray, np.ndarray]
SplitKind = Literal["style", "subject", "key", "random", "file"]

_GRAMMAR = (
    "expected one of style:NAME_OR_INDEX[,...], subject:ID[,...], key:NAME=VALUE[,...], "
    "random:FRACTION[,seed=N] or file:PATH"
)


def check_split(train: np.ndarray, test: np.ndarray, description: str) -> None:
    """Raise unless both sides of a split hold at least one sequence.

    Args:
        train: ``(N_train,)`` training indices.
        test: ``(N_test,)`` test indices.
        description: the split, as the message should name it (e.g. a spec).

    Raises:
        AimCLRError: ``N_train == 0`` or ``N_test == 0``; the message gives both counts.
    """
    try:
        train, test = np.asarray(train), np.asarray(test)
    except (TypeError, ValueError) as err:
        raise AimCLRError(f"train and test must be index arrays, got {err}") from err
    if train.ndim != 1 or test.ndim != 1:
        raise AimCLRError(
            f"train and test must be 1-D index arrays, got shapes {train.shape} and {test.shape}"
        )
    if len(train) and len(test):
        return
    side = "training" if not len(train) else "test"
    raise AimCLRError(
        f"split {description} leaves the {side} set empty: {len(train)} training and "
        f"{len(test)} test sequences"
    )


def _values(values: object, name: str) -> list[Any]:
    """A list of values; a single string or integer counts as one value."""
    if isinstance(values, (str, int, np.integer)):
        return [values]
    if not isinstance(values, Iterable):
        raise AimCLRError(
            f"{name} must be a value or a list of values, got {type(values).__name__}"
        )
    try:
        return list(values)
    except TypeError:
        raise AimCLRError(
            f"{name} must be a value or a list of values, got {type(values).__name__}"
        ) from None


def _check_skeletons(skeletons: object) -> None:
    if not isinstance(skeletons, RaggedSkeletons):
        raise AimCLRError(
            f"expected RaggedSkeletons (e.g. from load_npz), got {type(skeletons).__name__}"
        )


def _complement(count: int, test: np.ndarray) -> Split:
    test = np.unique(test).astype(np.intp)
    return np.setdiff1d(np.arange(count, dtype=np.intp), test), test


def style_indices(skeletons: RaggedSkeletons, styles: Iterable[str | int]) -> np.ndarray:
    """Sorted indices of the sequences whose style is in ``styles``.

    Args:
        skeletons: a collection with ``styles``.
        styles: style names (looked up in ``style_names``) or style indices; a
            string of digits that is not a style name is an index (``"3"``, as a
            command line passes it).

    Returns:
        ``(N_s,)`` ``np.intp`` (int64 on 64-bit platforms) indices into
        ``skeletons``, ascending; ``N_s`` is the number of matching sequences.

    Raises:
        AimCLRError: the collection has no styles, or an unknown style name/index.

    Example:
        >>> seqs = [np.zeros((4, 25, 3))] * 3
        >>> s = RaggedSkeletons.from_sequences(seqs, [0, 0, 1], styles=[1, 0, 1],
        ...                                    style_names=["calm", "angry"])
        >>> style_indices(s, ["angry"]).tolist(), style_indices(s, ["0"]).tolist()
        ([0, 2], [1])
    """
    _check_skeletons(skeletons)
    if skeletons.styles is None:
        raise AimCLRError("these sequences have no styles (the npz file lacks 'styles')")
    styles = _values(styles, "styles")
    wanted: set[int] = set()
    num_styles = max(len(skeletons.style_names), int(skeletons.styles.max(initial=-1)) + 1)
    for style in styles:
        index: object = style
        if isinstance(style, str):
            if style in skeletons.style_names:
                index = skeletons.style_names.index(style)
            elif re.fullmatch(r"\d+", style.strip()):
                index = int(style)
            else:
                raise AimCLRError(
                    f"unknown style {style!r}; known styles: {list(skeletons.style_names)} "
                    f"(or their indices 0..{num_styles - 1})"
                )
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not (
            0 <= index < num_styles
        ):
            raise AimCLRError(
                f"style must be a name or an index in [0, {num_styles}), got {style!r}"
            )
        wanted.add(int(index))
    return np.flatnonzero(np.isin(skeletons.styles, sorted(wanted)))


def split_by_style(skeletons: RaggedSkeletons, test_styles: Iterable[str | int]) -> Split:
    """Split into (train, test) indices: test holds the sequences of ``test_styles``.

    A cross-style protocol: the model never sees the held-out styles in training.

    Returns:
        ``(train_indices, test_indices)``: ``(N_train,)`` and ``(N_test,)``
        ``np.intp`` (int64 on 64-bit platforms) indices into ``skeletons``, each
        ascending, disjoint, together ``N``; ``test_indices`` is
        :func:`style_indices` of ``test_styles``.

    Raises:
        AimCLRError: see :func:`style_indices`, or an empty side.
    """
    styles = _values(test_styles, "test_styles")
    train, test = _complement(len(skeletons), style_indices(skeletons, styles))
    check_split(train, test, f"by test styles {styles}")
    return train, test


def split_by_key(skeletons: RaggedSkeletons, key: str, test_values: Iterable[int]) -> Split:
    """Split by a per-sequence integer key: test holds the sequences with ``test_values``.

    Args:
        skeletons: the collection.
        key: ``"subjects"``, ``"styles"``, ``"labels"`` or a further integer key
            of the ``.npz`` file (e.g. ``"views"``, ``"setups"``), see
            :meth:`~aimclr.data.ragged.RaggedSkeletons.values_of`.
        test_values: the key's values held out for testing; each must occur.

    Returns:
        ``(train_indices, test_indices)``, ascending ``np.intp``.

    Raises:
        AimCLRError: unknown key, no or non-integer values, a value that does not
            occur (the message lists those that do), or an empty side.

    Example:
        >>> seqs = [np.zeros((4, 25, 3))] * 4
        >>> s = RaggedSkeletons.from_sequences(seqs, [0, 1, 0, 1], groups={"views": [1, 2, 3, 2]})
        >>> [part.tolist() for part in split_by_key(s, "views", [2])]
        [[0, 2], [1, 3]]
    """
    _check_skeletons(skeletons)
    values = skeletons.values_of(key)
    given = _values(test_values, "test_values")
    if not given or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in given
    ):
        raise AimCLRError(f"test values of key {key!r} must be integers, got {given!r:.200}")
    wanted = sorted({int(v) for v in given})
    present = np.unique(values)
    absent = sorted(set(wanted) - set(present.tolist()))
    if absent:
        raise AimCLRError(
            f"{key} {absent} do not occur in these sequences; the values of {key!r} are "
            f"{present.tolist()[:50]}"
        )
    train, test = _complement(len(skeletons), np.flatnonzero(np.isin(values, wanted)))
    check_split(train, test, f"by test {key} {wanted}")
    return train, test


def split_by_subject(skeletons: RaggedSkeletons, test_subjects: Iterable[int]) -> Split:
    """Cross-subject split: test holds the sequences of the performers ``test_subjects``.

    :func:`split_by_key` on the format's ``subjects`` key.

    Raises:
        AimCLRError: the collection has no ``subjects``, an id that does not
            occur, or an empty side.
    """
    return split_by_key(skeletons, "subjects", test_subjects)


def split_random(
    labels: RaggedSkeletons | Sequence[int] | np.ndarray, test_fraction: float, seed: int = 0
) -> Split:
    """Seeded random split, stratified by class.

    Of each class with ``n_c >= 2`` sequences, ``round(test_fraction * n_c)``
    (halves round up), but at least 1 and at most ``n_c - 1``, go to the test
    side, drawn without replacement; so every such class is on both sides. A
    class with a single sequence stays in training. The same ``labels``,
    ``test_fraction`` and ``seed`` give the same split on every platform
    (NumPy's PCG64 generator).

    Args:
        labels: a collection (its ``labels`` are used) or ``(N,)`` class indices.
        test_fraction: share of every class held out, in ``(0, 1)``.
        seed: seed of the draw.

    Returns:
        ``(train_indices, test_indices)``, ascending ``np.intp``.

    Raises:
        AimCLRError: ``test_fraction`` outside ``(0, 1)``, labels that are not a
            1-D integer array, or an empty side (e.g. every class has one sequence).

    Example:
        >>> train, test = split_random([0] * 10 + [1] * 5, 0.2, seed=0)
        >>> len(train), len(test)
        (12, 3)
    """
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not (
        0.0 < test_fraction < 1.0
    ):
        raise AimCLRError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise AimCLRError(f"seed must be an integer >= 0, got {seed!r}")
    arr = labels.labels if isinstance(labels, RaggedSkeletons) else np.asarray(labels)
    if arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
        raise AimCLRError(f"labels must be a 1-D integer array (N,), got {describe_array(arr)}")
    rng = np.random.default_rng(int(seed))
    test: list[np.ndarray] = []
    for cls in np.unique(arr):
        members = np.flatnonzero(arr == cls)
        if len(members) < 2:
            continue
        count = min(max(int(np.floor(test_fraction * len(members) + 0.5)), 1), len(members) - 1)
        test.append(rng.choice(members, size=count, replace=False))
    train, test_idx = _complement(len(arr), np.concatenate(test) if test else np.zeros(0, int))
    check_split(train, test_idx, f"random (test_fraction {test_fraction}, seed {seed})")
    return train, test_idx


def _load_index_array(path: Path) -> np.ndarray:
    expected = "a 1-D array of integer indices or of sequence names"
    arr = load_npy(path, "index file", expected)
    if arr.ndim != 1 or not (arr.dtype.kind in "iuUS" or arr.size == 0):
        raise AimCLRError(
            f"index file {str(path)!r} must hold {expected}, got {describe_array(arr)}"
        )
    return arr


def read_index_file(path: str | os.PathLike[str], skeletons: RaggedSkeletons) -> np.ndarray:
    """Read a list of sequences: integer indices or sequence names.

    * ``.npy``: a 1-D integer array (indices) or string array (names), read
      without pickle.
    * any other file: UTF-8 text, entries separated by whitespace, commas or
      newlines; ``#`` starts a comment. If every entry is an integer, they are
      indices; otherwise every entry must be one of the collection's
      ``sequence_names``.

    Args:
        path: the file.
        skeletons: the collection the entries refer to.

    Returns:
        ``(N_s,)`` ascending, unique ``np.intp`` indices.

    Raises:
        AimCLRError: missing or unreadable file, no entries, an index outside
            ``[0, N)``, names without ``sequence_names`` in the collection, or
            unknown names.
    """
    _check_skeletons(skeletons)
    if not isinstance(path, (str, os.PathLike)):
        raise AimCLRError(f"path must be a str or path of an index file, got {path!r:.80}")
    path = Path(path)
    if not path.is_file():
        raise AimCLRError(f"index file {str(path)!r} does not exist")
    entries: list[str] | np.ndarray
    if path.suffix == ".npy":
        entries = _load_index_array(path)
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise AimCLRError(
                f"cannot read index file {str(path)!r} as UTF-8 text: {err}"
            ) from err
        lines = (line.split("#", 1)[0] for line in text.splitlines())
        entries = [token for line in lines for token in re.split(r"[\s,]+", line) if token]
    if len(entries) == 0:
        raise AimCLRError(f"index file {str(path)!r} lists no sequences")
    count = len(skeletons)
    if isinstance(entries, np.ndarray) and entries.dtype.kind in "iu":
        indices = entries.astype(np.int64)
    elif all(re.fullmatch(r"[+-]?\d+", str(e)) for e in entries):
        indices = np.array([int(e) for e in entries], dtype=np.int64)
    else:
        names = [str(e) for e in entries]
        if not skeletons.sequence_names:
            raise AimCLRError(
                f"index file {str(path)!r} lists names (e.g. {names[0]!r}), but these "
                "sequences have no sequence_names; list 0-based indices instead"
            )
        position = {name: i for i, name in enumerate(skeletons.sequence_names)}
        unknown = [name for name in names if name not in position]
        if unknown:
            raise AimCLRError(
                f"index file {str(path)!r}: {len(unknown)} of {len(names)} names are not "
                f"sequence names of the data, e.g. {unknown[:3]}"
            )
        indices = np.array([position[name] for name in names], dtype=np.int64)
    outside = indices[(indices < 0) | (indices >= count)]
    if outside.size:
        raise AimCLRError(
            f"index file {str(path)!r}: indices must lie in [0, {count}) (the data has "
            f"{count} sequences), got {outside.tolist()[:5]}"
        )
    return np.unique(indices).astype(np.intp)


def split_by_index_file(
    skeletons: RaggedSkeletons,
    test_file: str | os.PathLike[str],
    train_file: str | os.PathLike[str] | None = None,
) -> Split:
    """Split by explicit lists (see :func:`read_index_file` for the file format).

    Args:
        skeletons: the collection.
        test_file: the test sequences.
        train_file: the training sequences; ``None``: every sequence not in
            ``test_file``.

    Returns:
        ``(train_indices, test_indices)``, ascending ``np.intp``.

    Raises:
        AimCLRError: see :func:`read_index_file`, a sequence listed in both
            files, or an empty side.
    """
    test = read_index_file(test_file, skeletons)
    if train_file is None:
        train, test = _complement(len(skeletons), test)
    else:
        train = read_index_file(train_file, skeletons)
        both = np.intersect1d(train, test)
        if both.size:
            raise AimCLRError(
                f"{both.size} sequences are listed both in the training file "
                f"{str(train_file)!r} and the test file {str(test_file)!r}, e.g. "
                f"{both.tolist()[:5]}"
            )
    check_split(train, test, f"by index file {str(test_file)!r}")
    return train, test


@dataclass(frozen=True)
class SplitSpec:
    """A parsed split spec; :meth:`split` applies it. Build one with :func:`parse_split`.

    Attributes:
        text: the spec as written.
        kind: ``"style"``, ``"subject"``, ``"key"``, ``"random"`` or ``"file"``.
        key: the per-sequence key (``"styles"``, ``"subjects"`` or the ``key:``
            name); ``None`` for ``random`` and ``file``.
        values: the test values: style names or indices as written (strings),
            integers for ``subject`` and ``key``; empty otherwise.
        fraction: the test share of ``random``, else ``None``.
        seed: the seed of ``random``.
        path: the file of ``file``, else ``None``.
    """

    text: str
    kind: SplitKind
    key: str | None = None
    values: tuple[str | int, ...] = ()
    fraction: float | None = None
    seed: int = 0
    path: Path | None = None

    def split(self, skeletons: RaggedSkeletons) -> Split:
        """``(train_indices, test_indices)`` of ``skeletons``, ascending ``np.intp``.

        Raises:
            AimCLRError: the data lacks what the spec refers to (a key, a value,
                a style, a sequence name), or a side would be empty; the message
                quotes the spec.
        """
        _check_skeletons(skeletons)
        try:
            if self.kind == "random":
                return split_random(skeletons, self._fraction(), self.seed)
            if self.kind == "file":
                if self.path is None:
                    raise AimCLRError("a 'file' split needs a path")
                return split_by_index_file(skeletons, self.path)
            if self.kind == "style":
                return split_by_style(skeletons, self.values)
            return split_by_key(skeletons, self.key or "", [int(v) for v in self.values])
        except AimCLRError as err:
            message = str(err)
            if message.startswith("split "):  # check_split names the split already
                message = message.replace("split ", f"split {self.text!r} = ", 1)
            else:
                message = f"split {self.text!r}: {message}"
            raise AimCLRError(message) from None

    def _fraction(self) -> float:
        if self.fraction is None:
            raise AimCLRError("a 'random' split needs a fraction")
        return self.fraction


def _integers(tokens: list[str], text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in tokens)
    except ValueError:
        raise AimCLRError(
            f"split {text!r}: values must be integers, got {tokens}; {_GRAMMAR}"
        ) from None


def parse_split(text: str, seed: int = 0) -> SplitSpec:
    """Parse a split spec string (grammar in the module docstring).

    Only the syntax is checked here, so a command line can reject a malformed
    spec before loading data; :meth:`SplitSpec.split` checks it against the data.

    Args:
        text: e.g. ``"subject:1,2,3"``, ``"style:masculine,normal"``,
            ``"key:views=2"``, ``"random:0.2"``, ``"random:0.2,seed=7"``,
            ``"file:test.txt"``.
        seed: seed of a ``random`` spec that gives none.

    Returns:
        The parsed :class:`SplitSpec`.

    Raises:
        AimCLRError: unknown kind, no values, non-integer ids, a fraction outside
            ``(0, 1)``, a malformed seed or key; the message shows the grammar.

    Example:
        >>> spec = parse_split("key:views=2,3")
        >>> spec.kind, spec.key, spec.values
        ('key', 'views', (2, 3))
        >>> parse_split("random:0.2", seed=5).seed
        5
    """
    if not isinstance(text, str):
        raise AimCLRError(f"a split spec must be a string, got {type(text).__name__}; {_GRAMMAR}")
    kind, sep, body = text.partition(":")
    kind = kind.strip().lower()
    if not sep or not body.strip():
        raise AimCLRError(f"split {text!r} has no values after 'KIND:'; {_GRAMMAR}")
    if kind == "file":
        return SplitSpec(text, "file", path=Path(body.strip()))
    tokens = [t.strip() for t in body.split(",")]
    if any(not t for t in tokens):
        raise AimCLRError(f"split {text!r} has an empty value; {_GRAMMAR}")
    if kind == "style":
        return SplitSpec(text, "style", key="styles", values=tuple(tokens))
    if kind == "subject":
        return SplitSpec(text, "subject", key="subjects", values=_integers(tokens, text))
    if kind == "key":
        name, eq, first = tokens[0].partition("=")
        if not eq or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name.strip()) or not first:
            raise AimCLRError(f"split {text!r} must read key:NAME=VALUE[,VALUE...]; {_GRAMMAR}")
        values = _integers([first.strip(), *tokens[1:]], text)
        return SplitSpec(text, "key", key=name.strip(), values=values)
    if kind == "random":
        try:
            fraction = float(tokens[0])
        except ValueError:
            fraction = float("nan")
        if not 0.0 < fraction < 1.0:
            raise AimCLRError(
                f"split {text!r}: the test fraction must be a number in (0, 1), got "
                f"{tokens[0]!r}; {_GRAMMAR}"
            )
        options = tokens[1:]
        if len(options) > 1 or (options and not re.fullmatch(r"seed=\d+", options[0])):
            raise AimCLRError(
                f"split {text!r}: after the fraction only seed=N (N >= 0) may follow; {_GRAMMAR}"
            )
        chosen = int(options[0][5:]) if options else seed
        if isinstance(chosen, bool) or not isinstance(chosen, int) or chosen < 0:
            raise AimCLRError(f"seed must be an integer >= 0, got {seed!r}")
        return SplitSpec(text, "random", fraction=fraction, seed=chosen)
    raise AimCLRError(f"unknown split kind {kind!r} in {text!r}; {_GRAMMAR}")
