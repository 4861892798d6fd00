"""Output files written so that memory stays flat and a killed run leaves nothing complete.

Every output is first written under a temporary name (``<name>.partial``) and
renamed to its final name only once all outputs of the run are complete, so a
run that is killed or fails never leaves a file under a final name that loads
as a finished array. Arrays are created with :func:`numpy.lib.format.open_memmap`
(header and full size reserved) and filled block by block with positional
writes: a memory map kept open while it is filled keeps every page it touched
resident, so the process would grow with the number of samples.
"""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.lib.format import dtype_to_descr, open_memmap, write_array_header_1_0

__all__ = ["PARTIAL_SUFFIX", "NpyWriter", "commit", "write_pickle"]

PARTIAL_SUFFIX = ".partial"
"""Suffix of files still being written."""

def partial_path(path: Path) -> Path:
    """The temporary name of ``path`` while it is written."""
    return path.with_name(path.name + PARTIAL_SUFFIX)


class NpyWriter:
    """Append samples to a ``.npy`` array ``(N, *sample_shape)`` with bounded memory.

    The file is created at ``<path>.partial`` for ``capacity`` samples; fewer may be
    appended (skipped inputs): :meth:`close` then shrinks the array to the samples
    written. Memory use is one block of ``block`` samples.

    Args:
        path: the final file name, e.g. ``out/xsub/train_data.npy``.
        sample_shape: shape of one sample, e.g. ``(3, 300, 25, 2)``.
        dtype: array dtype.
        capacity: the most samples that will be appended.
        block: samples buffered per write.
    """

    def __init__(
        self,
        path: Path,
        sample_shape: Sequence[int],
        dtype: np.dtype | type,
        capacity: int,
        block: int = 64,
    ) -> None:
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.dtype = np.dtype(dtype)
        self.sample_shape = tuple(sample_shape)
        self.capacity = capacity
        reserved = open_memmap(self.partial, mode="w+", dtype=self.dtype,
                               shape=(capacity, *self.sample_shape))
        self._offset = int(reserved.offset)
        del reserved
        self._sample_bytes = self.dtype.itemsize * int(np.prod(self.sample_shape))
        self._buffer = np.empty((max(1, min(block, capacity)), *self.sample_shape), self.dtype)
        self._buffered = 0
        self.count = 0
        self._file: io.BufferedRandom | None = open(self.partial, "r+b")  # noqa: SIM115

    def append(self, sample: np.ndarray) -> None:
        """Add one sample (cast to the array dtype)."""
        if self.count + self._buffered >= self.capacity:
            raise IndexError(f"{self.path}: more than the {self.capacity} samples reserved")
        self._buffer[self._buffered] = sample
        self._buffered += 1
        if self._buffered == len(self._buffer):
            self._flush()

    def _flush(self) -> None:
        if self._buffered == 0 or self._file is None:
            return
        self._file.seek(self._offset + self.count * self._sample_bytes)
        self._file.write(self._buffer[: self._buffered].tobytes())
        self.count += self._buffered
        self._buffered = 0

    def close(self) -> Path:
        """Write what is buffered and fit the array to the samples written.

        Returns:
            The temporary file, complete, to be renamed by :func:`commit`.
        """
        self._flush()
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.count < self.capacity:
            self._shrink()
        return self.partial

    def discard(self) -> None:
        """Close and delete the temporary file."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self.partial.unlink(missing_ok=True)

    def _shrink(self) -> None:
        # numpy pads the header so that the first axis can grow to 21 digits without
        # changing its length: the smaller shape is rewritten in place.
        header = _npy_header(self.dtype, (self.count, *self.sample_shape))
        if len(header) != self._offset:
            raise RuntimeError(f"{self.partial}: numpy wrote a {self._offset}-byte header "
                               f"but needs {len(header)} bytes for the final shape")
        with open(self.partial, "r+b") as file:
            file.write(header)
            file.truncate(self._offset + self.count * self._sample_bytes)


def _npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    """The ``.npy`` header numpy writes for a C-ordered array of ``shape``."""
    buffer = io.BytesIO()
    write_array_header_1_0(
        buffer, {"descr": dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue()


def write_pickle(path: Path, content: object) -> Path:
    """Pickle ``content`` to ``<path>.partial`` (default protocol, as the reference).

    Returns:
        The temporary file, to be renamed by :func:`commit`.
    """
    partial = partial_path(path)
    with open(partial, "wb") as file:
        pickle.dump(content, file)
    return partial


def commit(partials: Sequence[Path]) -> list[Path]:
    """Rename finished ``*.partial`` files to their final names.

    Final files that already exist are deleted first, all of them before the
    first rename, so an interruption leaves missing files but never a mix of old
    and new outputs.

    Args:
        partials: temporary files returned by :meth:`NpyWriter.close` and
            :func:`write_pickle`, in the order to rename them.

    Returns:
        The final paths.
    """
    finals = [path.with_name(path.name[: -len(PARTIAL_SUFFIX)]) for path in partials]
    for final in finals:
        final.unlink(missing_ok=True)
    for partial, final in zip(partials, finals, strict=True):
        os.replace(partial, final)
    return finals
