"""Process settings for CPU training (`aimclr.cpu`)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Allocates, writes and frees a 64 MiB tensor repeatedly and reports the page faults of
# each later round; with the setting the memory is reused, without it every round faults.
_PROBE = """
import json, resource, sys
import torch
from aimclr.cpu import retain_freed_memory
applied = retain_freed_memory() if sys.argv[1] == "retain" else None
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def round():
    torch.empty(16 * 2**20).fill_(1.0)
for _ in range(5):  # the heap grows to its working size: new pages either way
    round()
per_round = []
for _ in range(7):
    before = faults()
    round()
    per_round.append(faults() - before)
print(json.dumps({"applied": applied, "faults": sorted(per_round)[3]}))
"""


def _probe(mode: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True,
                          text=True, check=True)  # fmt: skip
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux-only")
def test_retained_memory_is_reused_without_page_faults() -> None:
    default, retained = _probe("default"), _probe("retain")
    if not retained["applied"]:
        pytest.skip("this C library has no mallopt (not glibc)")
    pages = 64 * 2**20 // 4096  # of one round; the probe reports the median round
    assert isinstance(default["faults"], int) and default["faults"] > pages // 2
    assert isinstance(retained["faults"], int) and retained["faults"] < pages // 50
