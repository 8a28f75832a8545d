"""Where `trailguard scan` spends its time, and prototypes of a faster reader, measured on the archive.

``python benchmarks/reader_variants.py [--events N] [--files N] [--runs 3]``

1. Phases: the steps of ``Reader._read_log_file`` (sources.py) replayed file by file with a timer
   around each: read, gunzip, typed head decode, the ``wants`` loop, the ``list[Raw]`` decode,
   full decode of wanted records, engine.evaluate and JSON output of findings.
2. cProfile of the real ``trailguard.cli.scan()`` (top functions by own time).
3. Variants: the real ``scan()`` with one change patched in, each run in a fresh process (the
   malloc state of a fresh process matters, see below), best of ``--runs``, interpreter start-up
   excluded. Every variant must read the same records and produce the same findings as the baseline.

The patches live here only; sources.py is not changed. They are prototypes to measure, not code
to copy as is.
"""

from __future__ import annotations

import argparse
import cProfile
import ctypes
import io
import json
import pstats
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec
from isal import igzip, igzip_lib

from generate_corpus import DEFAULT_ROOT, DEFAULT_SEED, RECORDS_PER_FILE, CorpusParams, ensure_corpus
from trailguard import sources
from trailguard.core.engine import Engine
from trailguard.core.settings import Settings

_igunzip: Callable[[bytes], bytes] = igzip.decompress  # isal ships no type hints


# ------------------------------------------------------------------------------------------------
# Prototypes
# ------------------------------------------------------------------------------------------------


def patch_malloc() -> None:
    """glibc: keep freed memory for reuse instead of mmap/munmap (or trimming) per file.

    Each file's decompressed text (~1.4 MB) is above glibc's mmap threshold, so every file gets
    fresh pages from the kernel and pays a page fault per 4 KiB; raising the mmap threshold and
    the trim threshold makes the allocator reuse the same memory. Same effect as running with
    MALLOC_MMAP_THRESHOLD_=67108864 MALLOC_TRIM_THRESHOLD_=268435456.
    """
    libc = ctypes.CDLL(None)
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 64 << 20)
    libc.mallopt(m_trim_threshold, 256 << 20)


def gunzip_sized(data: bytes, limit: int = 0) -> bytes:
    """One output allocation of the right size (ISIZE from the gzip trailer, capped: untrusted)."""
    size = int.from_bytes(data[-4:], "little")
    out: bytes = igzip_lib.decompress(data, flag=igzip_lib.DECOMP_GZIP, bufsize=min(max(size, 1 << 14), 256 << 20) + 1)
    if len(out) != size:  # several gzip members (igzip_lib stops after the first), or a lying trailer
        return _igunzip(data)
    return out


class _IdentityNoGC(msgspec.Struct, gc=False):
    type: str | None = None


class _HeadNoGC(msgspec.Struct, gc=False):
    eventSource: str | None = None
    eventName: str | None = None
    errorCode: str | None = None
    userIdentity: _IdentityNoGC | None = None


class _HeadsNoGC(msgspec.Struct, gc=False):
    Records: list[_HeadNoGC] | None = None


def _memo_read_log_file(self: sources.Reader, data: bytes, heads: list[Any], location: str) -> Iterator[dict[str, Any]]:
    """``_read_log_file`` with the ``wants`` answer cached per (source, name, identity, failed)."""
    self.stats.records += len(heads)
    cache: dict[tuple[Any, Any, Any, bool], bool] = self.__dict__.setdefault("_wants_cache", {})
    wants = self.wants
    wanted = []
    for index, head in enumerate(heads):
        identity = head.userIdentity
        key = (
            head.eventSource,
            head.eventName,
            identity.type if identity is not None else None,
            head.errorCode is not None,
        )
        hit = cache.get(key)
        if hit is None:
            if len(cache) > 10_000:  # names come from the input: keep the cache bounded
                cache.clear()
            hit = cache[key] = wants(*key)
        if hit:
            wanted.append(index)
    if not wanted:
        return
    raw = sources._RAW_DECODER.decode(data).Records or []
    for index in wanted:
        record = sources._ANY_DECODER.decode(raw[index])
        self.stats.decoded += 1
        yield record


def _prefilter_read_log_file(
    self: sources.Reader, data: bytes, heads: list[Any], location: str
) -> Iterator[dict[str, Any]]:
    """``_read_log_file`` with an inline set test before calling ``wants``: only records whose
    event name (or a versioned-looking name) or identity type some rule routes on reach it."""
    self.stats.records += len(heads)
    engine = getattr(self.wants, "__self__", None)
    if engine is None:  # not an engine's wants: no sets to test against
        yield from _original_read_log_file(self, data, heads, location)
        return
    names = {name for _, name in engine._by_event}
    identities = set(engine._by_identity)
    wants = self.wants
    wanted = [
        index
        for index, head in enumerate(heads)
        if (
            head.eventName in names
            or (head.eventName is not None and head.eventName[-1:].isdigit())
            or (head.userIdentity is not None and head.userIdentity.type in identities)
        )
        and wants(
            head.eventSource,
            head.eventName,
            head.userIdentity.type if head.userIdentity is not None else None,
            head.errorCode is not None,
        )
    ]
    if not wanted:
        return
    raw = sources._RAW_DECODER.decode(data).Records or []
    for index in wanted:
        record = sources._ANY_DECODER.decode(raw[index])
        self.stats.decoded += 1
        yield record


_original_read_log_file = sources.Reader._read_log_file
_HEAD_DECODER = msgspec.json.Decoder(sources._Head)
_original_read_document = sources.Reader._read_document


def _raw_once_read_document(
    self: sources.Reader, data: bytes, location: str, lines: bool = True
) -> Iterator[dict[str, Any]]:
    """One pass to ``list[Raw]``, then a typed head decode per record (instead of two file passes)."""
    try:
        raws = sources._RAW_DECODER.decode(data).Records
    except msgspec.MsgspecError:
        raws = None
    if raws is None:
        yield from _original_read_document(self, data, location, lines)
        return
    self.stats.records += len(raws)
    decode_head = _HEAD_DECODER.decode
    for raw in raws:
        try:
            head = decode_head(raw)
        except msgspec.ValidationError:
            yield from _original_read_document(self, raw, location)  # odd types: the general path
            continue
        identity = head.userIdentity
        if self.wants(
            head.eventSource,
            head.eventName,
            identity.type if identity is not None else None,
            head.errorCode is not None,
        ):
            self.stats.decoded += 1
            yield sources._ANY_DECODER.decode(raw)


_original_read_bytes = sources.Reader.read_bytes


def _no_strip_read_bytes(
    self: sources.Reader, data: bytes, location: str, json_lines: bool = False
) -> Iterator[dict[str, Any]]:
    """``read_bytes`` without ``data.strip()``, which copies the whole decompressed file to test
    for emptiness; ``isspace()`` stops at the first non-blank byte."""
    self.stats.bytes_read += len(data)
    if data[:2] == sources.GZIP_MAGIC:
        try:
            data = sources.gunzip(data)
        except (OSError, EOFError, ValueError) as exc:
            self._problem(location, f"not a readable gzip file: {exc}")
            return
    self.stats.bytes_decoded += len(data)
    if not data or data.isspace():
        self._problem(location, "empty file")
        return
    if json_lines:
        yield from self._read_lines(data, location)
        return
    yield from self._read_document(data, location)


def apply(variant: str) -> None:
    """Patch trailguard.sources for one variant (names joined by '+')."""
    for part in variant.split("+"):
        if part == "baseline":
            continue
        if part == "malloc":
            patch_malloc()
        elif part == "sized-gunzip":
            sources.gunzip = gunzip_sized
        elif part == "nogc-heads":
            sources._HEADS_DECODER = msgspec.json.Decoder(_HeadsNoGC)
        elif part == "memo-wants":
            sources.Reader._read_log_file = _memo_read_log_file  # type: ignore[method-assign]
        elif part == "prefilter":
            sources.Reader._read_log_file = _prefilter_read_log_file  # type: ignore[method-assign]
        elif part == "no-strip":
            sources.Reader.read_bytes = _no_strip_read_bytes  # type: ignore[method-assign]
        elif part == "raw-once":
            sources.Reader._read_document = _raw_once_read_document  # type: ignore[method-assign]
        else:
            raise SystemExit(f"unknown variant part {part!r}")


VARIANTS = (
    "baseline",
    "raw-once",
    "malloc",
    "sized-gunzip",
    "nogc-heads",
    "memo-wants",
    "no-strip",
    "prefilter",
    "malloc+nogc-heads+prefilter",
    "sized-gunzip+nogc-heads+prefilter",
)


# ------------------------------------------------------------------------------------------------
# Measurements
# ------------------------------------------------------------------------------------------------


def child(variant: str, target: str) -> None:
    """Run in a fresh process: one in-process scan() with the variant applied; print JSON."""
    apply(variant)
    from trailguard.cli import scan

    findings: list[str] = []
    out = io.StringIO()

    def emit(finding: Any) -> None:  # what --format jsonl does
        out.write(json.dumps(finding.to_dict(), ensure_ascii=False) + "\n")
        findings.append(f"{finding.rule_id} {finding.event_id}")

    started = time.perf_counter()
    result = scan([target], Settings(), on_finding=emit)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "records": result.read.records,
                "decoded": result.read.decoded,
                "findings": sorted(findings),
            }
        )
    )


def measure_variants(target: Path, events: int, runs: int, variants: Sequence[str]) -> list[dict[str, Any]]:
    """The first variant is the reference for speed-up and output."""
    rows: list[dict[str, Any]] = []
    baseline: dict[str, Any] | None = None
    for variant in variants:
        outcomes = []
        for _ in range(runs):
            proc = subprocess.run(
                [sys.executable, __file__, "--child", variant, str(target)], capture_output=True, text=True, check=True
            )
            outcomes.append(json.loads(proc.stdout))
        best = min(o["seconds"] for o in outcomes)
        first = outcomes[0]
        same = baseline is None or all(first[k] == baseline[k] for k in ("records", "decoded", "findings"))
        if baseline is None:
            baseline = {**first, "best": best}
        rows.append(
            {
                "variant": variant,
                "seconds": round(best, 4),
                "events_per_s": round(events / best),
                "speedup": round(baseline["best"] / best, 3),
                "same_output": same,
            }
        )
        print(
            f"  {variant:<32} {best:7.3f} s {events / best:>11,.0f} ev/s {baseline['best'] / best:6.2f}x"
            f"  {'same output' if same else 'OUTPUT DIFFERS'}",
            flush=True,
        )
    return rows


def phases(files: Sequence[Path], runs: int) -> dict[str, float]:
    """The reader's steps replayed file by file with a timer around each (best run, seconds)."""
    engine = Engine(Settings())
    wants = engine.wants
    best: dict[str, float] | None = None
    clock = time.perf_counter
    for _ in range(runs):
        spent = dict.fromkeys(("read", "gunzip", "heads", "wants", "raw", "full", "engine", "output"), 0.0)
        for path in files:
            t0 = clock()
            data = path.read_bytes()
            t1 = clock()
            text = sources.gunzip(data)
            t2 = clock()
            heads = sources._HEADS_DECODER.decode(text).Records or []
            t3 = clock()
            wanted = [
                i
                for i, h in enumerate(heads)
                if wants(
                    h.eventSource,
                    h.eventName,
                    h.userIdentity.type if h.userIdentity is not None else None,
                    h.errorCode is not None,
                )
            ]
            t4 = clock()
            raws = (sources._RAW_DECODER.decode(text).Records or []) if wanted else []
            t5 = clock()
            records = [sources._ANY_DECODER.decode(raws[i]) for i in wanted]
            t6 = clock()
            found = [f for r in records for f in engine.evaluate(r)]
            t7 = clock()
            for finding in found:
                json.dumps(finding.to_dict(), ensure_ascii=False)
            t8 = clock()
            marks = (t0, t1, t2, t3, t4, t5, t6, t7, t8)
            for key, start, end in zip(spent, marks, marks[1:], strict=False):
                spent[key] += end - start
        if best is None or sum(spent.values()) < sum(best.values()):
            best = spent
    assert best is not None
    return best


def profile(target: Path, top: int) -> str:
    from trailguard.cli import scan

    profiler = cProfile.Profile()
    profiler.enable()
    scan([str(target)], Settings())
    profiler.disable()
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(top)
    return stream.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="profile the reader and measure prototypes")
    parser.add_argument("--events", type=int, default=100_000, help="archive to use (generated if missing)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--top", type=int, default=15, help="cProfile rows")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=("phases", "profile", "variants"), action="append")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma-separated; parts joined by '+'; first is the reference"
    )
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    params = CorpusParams(args.events, args.seed, RECORDS_PER_FILE)
    corpus, manifest = ensure_corpus(params, DEFAULT_ROOT)
    target = corpus / "AWSLogs"
    files = sorted(target.rglob("*.json.gz"))
    events = int(manifest["events"])
    only = set(args.only or ("phases", "profile", "variants"))
    results: dict[str, Any] = {"events": events, "files": len(files)}
    if "phases" in only:
        spent = phases(files, args.runs)
        total = sum(spent.values())
        print(f"phases of the reader, replayed ({len(files)} files, {events:,} events, best of {args.runs}):")
        for key, seconds in spent.items():
            print(f"  {key:<8} {seconds * 1000:8.1f} ms  {100 * seconds / total:5.1f}%")
        print(f"  {'total':<8} {total * 1000:8.1f} ms  ({events / total:,.0f} events/s)")
        results["phases_seconds"] = {k: round(v, 4) for k, v in spent.items()}
    if "profile" in only:
        print("\ncProfile of trailguard.cli.scan() (in process, after one warm-up scan):")
        from trailguard.cli import scan

        scan([str(target)], Settings())
        text = profile(target, args.top)
        print("\n".join(line for line in text.splitlines() if line.strip())[:6000])
    if "variants" in only:
        print(f"\nvariants: scan() in a fresh process each, best of {args.runs}, start-up excluded:")
        results["variants"] = measure_variants(target, events, args.runs, args.variants.split(","))
    DEFAULT_ROOT.mkdir(exist_ok=True)
    (DEFAULT_ROOT / "reader_variants.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
