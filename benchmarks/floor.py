"""One decoding floor over a folder of ``.json.gz`` files, in a fresh process (run by bench.py).

``python benchmarks/floor.py KIND DIR``: walks DIR for ``*.json.gz`` like the scan does, reads each
file and applies KIND to it: ``gzip`` (the gzip module), ``isal`` (isal.igzip) or ``orjson``
(isal.igzip + a full ``orjson.loads``). bench.py times the whole process, start-up and imports
included, exactly as it times ``trailguard scan``: the ratio between them compares like with like.
It prints the number of files and the seconds spent after the imports (for reference).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path


def work_for(kind: str) -> Callable[[bytes], object]:
    # Only the module the floor measures is imported: its import is part of what is timed.
    if kind == "gzip":
        import gzip

        return gzip.decompress
    from isal import igzip

    decompress: Callable[[bytes], bytes] = igzip.decompress
    if kind == "isal":
        return decompress
    if kind == "orjson":
        import orjson

        return lambda data: orjson.loads(decompress(data))
    raise SystemExit(f"unknown floor {kind!r} (gzip, isal, orjson)")


def main(argv: list[str]) -> int:
    kind, folder = argv
    work = work_for(kind)
    started = time.perf_counter()
    files = sorted(Path(folder).rglob("*.json.gz"))
    for path in files:
        work(path.read_bytes())
    print(f"{len(files)} {time.perf_counter() - started:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
