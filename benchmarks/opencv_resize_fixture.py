"""Fingerprints of OpenCV's float32 ``INTER_LINEAR`` resize, for ``tests/test_opencv_resize.py``.

The reference preprocessing resamples frames with ``cv2.resize``; the library
reproduces it without OpenCV (``resize_sequence(..., arithmetic="reference")``). This
script records what OpenCV returns, so the tests can check the reproduction on a
machine without OpenCV. OpenCV is not a dependency of the library: run it with an
``opencv-python-headless`` importable, e.g.::

    pip install --target /tmp/cv opencv-python-headless==5.0.0.93
    PYTHONPATH=/tmp/cv:. python benchmarks/opencv_resize_fixture.py --write

``--write`` replaces ``tests/data/opencv_resize.json``; without it the script compares
OpenCV with both the stored fingerprints and the library and prints the cases that
differ. The fingerprints are the first 16 hex digits of the SHA-256 of the output's
float32 bytes, for every source length 1..300 at 50 output frames (the reference's
setting) and a few lengths at other frame counts. Inputs come from
:func:`fixture_input`: integer hashing, exact float32 values, no random generator.

``OPENCV_IPP=avx2`` / ``avx512`` / ``sse42`` (an OpenCV setting) selects which code
of Intel IPP OpenCV uses: the AVX2 and AVX-512 code give these fingerprints; the
SSE4.2 code rounds the multiply-add twice and differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "opencv_resize.json"
NUM_JOINTS = 25
LENGTHS_AT_50 = range(1, 301)
OTHER_CASES = [(length, frames) for frames in (16, 64, 100, 300)
               for length in (1, 2, 3, 7, 50, 123, 300)]


def fixture_input(length: int) -> np.ndarray:
    """A ``(length, 25, 3)`` float32 image of exact values in ``[-8, 8)``.

    Knuth's multiplicative hash of the element index gives 24-bit values; joints get
    different powers of two as scales; joint 20 is zero (as after centring) and, for
    every fifth length, joint 3 is constant over the frames.
    """
    index = np.arange(length * NUM_JOINTS * 3, dtype=np.uint64) + np.uint64(length * 7919)
    hashed = (index * np.uint64(2654435761)) % np.uint64(2**32)
    values = ((hashed >> np.uint64(8)).astype(np.int64) - 2**23).astype(np.float64) / 2**23
    image = values.reshape(length, NUM_JOINTS, 3)
    image *= 2.0 ** (np.arange(NUM_JOINTS) % 7 - 3)[None, :, None]
    image[:, 20] = 0.0
    if length % 5 == 0:
        image[:, 3] = image[0, 3]
    return image.astype(np.float32)


def fingerprint(x: np.ndarray) -> str:
    """First 16 hex digits of the SHA-256 of the float32 bytes of ``x``."""
    return hashlib.sha256(np.ascontiguousarray(x, dtype=np.float32).tobytes()).hexdigest()[:16]


def cases() -> list[tuple[int, int]]:
    """All ``(length, frames)`` pairs of the fixture."""
    return [(length, 50) for length in LENGTHS_AT_50] + OTHER_CASES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"replace {FIXTURE}")
    args = parser.parse_args()
    import cv2  # not a dependency: see the module docstring

    from aimclr.data import resize_sequence

    found = {}
    differ_stored, differ_library = [], []
    stored = json.loads(FIXTURE.read_text())["sha256"] if FIXTURE.exists() else {}
    for length, frames in cases():
        image = fixture_input(length)
        out = cv2.resize(image, (NUM_JOINTS, frames), interpolation=cv2.INTER_LINEAR)
        key = f"{length}->{frames}"
        found[key] = fingerprint(out)
        if stored and stored.get(key) != found[key]:
            differ_stored.append(key)
        ours = resize_sequence(image, frames, axis=0, arithmetic="reference")
        if not np.array_equal(ours.view(np.int32), out.view(np.int32)):
            differ_library.append(key)
    ipp = cv2.ipp.getIppVersion() if cv2.ipp.useIPP() else "IPP off"
    print(f"OpenCV {cv2.__version__}, {ipp}: {len(found)} cases; differ from the stored "
          f"fingerprints: {differ_stored or 'none'}; from the library: {differ_library or 'none'}")
    if args.write:
        document = {
            "generated_by": "python benchmarks/opencv_resize_fixture.py --write",
            "opencv": cv2.__version__,
            "ipp": ipp,
            "input": "benchmarks/opencv_resize_fixture.py fixture_input(length)",
            "sha256": found,
        }
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        FIXTURE.write_text(json.dumps(document, indent=0) + "\n")
        print(f"wrote {FIXTURE}")
    sys.exit(1 if differ_library else 0)


if __name__ == "__main__":
    main()
