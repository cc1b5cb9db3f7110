"""TF checkpoint -> safetensors conversion speed against a raw copy of the same bytes.

Writes a 1 GiB checkpoint of 64 float32 tensors, then times (warm page cache, best of
``--repeat``) ``convert_checkpoint`` to one ``.safetensors`` file and ``shutil.copyfile`` of the
data file, and prints the ratio (1.0 = as fast as copying the bytes)::

    python benchmarks/bench_convert.py [--repeat 3] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import numpy as np

import ckpt
from ckpt.convert import convert_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        prefix = os.path.join(tmp, "big")
        rng = np.random.default_rng(0)
        with ckpt.CheckpointWriter(prefix) as writer:
            for i in range(64):  # 64 x 16 MiB
                writer.add(f"layer{i:02d}/kernel", rng.random(4 << 20, dtype=np.float32))
        data = prefix + ".data-00000-of-00001"
        size = os.path.getsize(data)

        def timed(action: str) -> float:
            best = float("inf")
            for _ in range(args.repeat + 1):  # the first run warms the page cache
                out = os.path.join(tmp, "out")
                start = time.perf_counter()
                if action == "copy":
                    shutil.copyfile(data, out)
                else:
                    convert_checkpoint(prefix, out + ".safetensors")
                best = min(best, time.perf_counter() - start)
                for path in (out, out + ".safetensors"):
                    if os.path.exists(path):
                        os.remove(path)
            return best

        copy, convert = timed("copy"), timed("convert")
    gb = size / 1e9
    print(
        f"{size / (1 << 30):.2f} GiB: copy {copy:.3f} s ({gb / copy:.2f} GB/s), "
        f"convert {convert:.3f} s ({gb / convert:.2f} GB/s), ratio {copy / convert:.2f}x"
    )


if __name__ == "__main__":
    main()
