"""CloudTrail log files straight from S3: ``trailguard scan s3://bucket/prefix`` and the Lambda's S3 paths.

Listing: CloudTrail writes ``<prefix>/AWSLogs/[<organization id>/]<account>/CloudTrail/<region>/YYYY/MM/DD/
<account>_CloudTrail_<region>_YYYYMMDDTHHMMZ_<random>.json.gz``. The folders above a region are found
with ``Delimiter='/'`` (one call per level and folder); below it only the days of ``--since/--until``
are listed (``DAYS_LISTED_DIRECTLY`` of them at most, else the year and month folders are listed and
the days outside the window left out), so reading a day of a year's archive lists that day. Other
services' folders beside ``CloudTrail`` (digests, Insights, Config) are not listed at all; other
AWS logs met in a listing are counted and not read, by ``sources.skipped_kind`` as on disk.

Order: day by day, the keys of every account and region of that day in the time their names carry
(``sources.in_time_order``), so the stateful rules see events roughly in event time; keys outside
the AWS layout follow, in the same order.

Memory: one day's keys are listed at a time; ``THREADS`` downloads run ahead of the reader, at most
``AHEAD`` objects held. An object larger than the decompression bound is not downloaded.

Decoding is the reader's (``Reader.read_bytes``): the same findings as the same files on disk.
boto3 is imported here only when an S3 input is used (the ``aws`` extra).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from trailguard.core.exceptions import InputError
from trailguard.sources import (
    _ORGANIZATION_FOLDER,
    DATA_SUFFIXES,
    JSON_LINES_SUFFIXES,
    MAX_DECOMPRESSED_BYTES,
    NOT_DATA,
    InputProblem,
    Reader,
    in_time_order,
    name_time,
    skipped_kind,
)
from trailguard.utils.text import one_line

S3_SCHEME = "s3://"
THREADS = 8
AHEAD = 16
DAYS_LISTED_DIRECTLY = 31
# Errors worth another try (Lambda: SQS redelivers, Batch Operations retries the task).
TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "InternalError",
        "ServiceUnavailable",
        "503",
        "500",
    }
)


class S3InputError(InputError):
    """An S3 input that cannot be read at all (no such bucket, access denied): one line, exit 2."""


class ObjectError(Exception):
    """One object that cannot be read; ``transient`` when a retry may succeed (throttled, 5xx, network)."""

    def __init__(self, location: str, reason: str, *, transient: bool) -> None:
        super().__init__(f"{location}: {reason}")
        self.location = location
        self.reason = reason
        self.transient = transient


def is_s3_url(text: str) -> bool:
    return text.startswith(S3_SCHEME)


def parse_s3_url(text: str) -> tuple[str, str]:
    """(bucket, prefix) of ``s3://bucket[/prefix]``."""
    bucket, _, prefix = text.removeprefix(S3_SCHEME).partition("/")
    if not bucket:
        raise S3InputError(f"{text}: expected s3://bucket/prefix")
    return bucket, prefix


def location(bucket: str, key: str) -> str:
    return f"{S3_SCHEME}{bucket}/{key}"


# -- the time window ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TimeWindow:
    """``--since``/``--until`` as the ``YYYYMMDDTHHMM`` of CloudTrail file names (UTC, both included)."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None

    @property
    def bounded(self) -> bool:
        return self.since is not None or self.until is not None

    def _stamps(self) -> tuple[str, str]:
        low = self.since.strftime("%Y%m%dT%H%M") if self.since else ""
        high = self.until.strftime("%Y%m%dT%H%M") if self.until else "~"
        return low, high

    def keeps(self, name: str) -> bool:
        """Whether a file whose name carries a time is in the window (names without one are kept)."""
        stamp = name_time(name)
        if stamp is None or not self.bounded:
            return True
        low, high = self._stamps()
        return low <= stamp <= high

    def overlaps(self, first: dt.date, last: dt.date) -> bool:
        """Whether the days first..last (a year or month folder) meet the window."""
        if self.since is not None and last < self.since.date():
            return False
        return not (self.until is not None and first > self.until.date())

    def days(self, today: dt.date) -> list[dt.date] | None:
        """Every day of the window, or None when it is open at the start or longer than listing allows."""
        if self.since is None:
            return None
        last = self.until.date() if self.until else today
        count = (last - self.since.date()).days + 1
        if count > DAYS_LISTED_DIRECTLY:
            return None
        return [self.since.date() + dt.timedelta(days=n) for n in range(max(count, 0))]


def parse_time(value: str, end: bool = False) -> dt.datetime:
    """``YYYY-MM-DD`` (the day's start, or its last minute when ``end``) or ``YYYY-MM-DDTHH:MM[:SS][Z]``, UTC."""
    text = value.strip().removesuffix("Z").removesuffix("z")
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            moment = dt.datetime.combine(day, dt.time(23, 59) if end else dt.time(0, 0))
        else:
            moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a date or time (examples: 2026-11-03, 2026-11-03T09:30Z)") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


# -- listing ------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class S3Object:
    bucket: str
    key: str
    size: int

    @property
    def location(self) -> str:
        return location(self.bucket, self.key)


def _after_awslogs(prefix: str) -> list[str] | None:
    """The folders after the last ``AWSLogs`` of a folder prefix (the organization id left out)."""
    parts = prefix.rstrip("/").split("/")
    if "AWSLogs" not in parts:
        return None
    rest = parts[len(parts) - parts[::-1].index("AWSLogs") :]
    if rest and _ORGANIZATION_FOLDER.fullmatch(rest[0]):
        rest = rest[1:]
    return rest


def _client_error(exc: Any) -> tuple[str, str]:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = one_line(str(error.get("Message", "")))[:200]
    return code, f"{code} ({message})" if message and message != code else code


class S3Listing:
    """The CloudTrail objects under ``s3://bucket/prefix`` in the window, in the order to read them."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str,
        *,
        window: TimeWindow,
        on_problem: Callable[[InputProblem], None],
        on_skipped: Callable[[str], None],
        today: dt.date | None = None,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.window = window
        self.on_problem = on_problem
        self.on_skipped = on_skipped
        self.today = today or dt.datetime.now(dt.UTC).date()
        self.calls = 0  # ListObjectsV2 requests
        self.listed = 0  # keys listed
        self._days: dict[dt.date, list[str]] = {}
        self._loose: list[S3Object] = []

    def _pages(self, prefix: str, delimiter: bool) -> Iterator[dict[str, Any]]:
        from botocore.exceptions import BotoCoreError, ClientError

        arguments: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            arguments["Delimiter"] = "/"
        while True:
            self.calls += 1
            try:
                page: dict[str, Any] = self.client.list_objects_v2(**arguments)
            except ClientError as exc:
                _code, reason = _client_error(exc)
                self._list_failed(prefix, f"cannot list: {reason}")
                return
            except BotoCoreError as exc:
                self._list_failed(prefix, f"cannot list: {type(exc).__name__}: {one_line(str(exc))[:200]}")
                return
            yield page
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            arguments["ContinuationToken"] = token

    def _list_failed(self, prefix: str, reason: str) -> None:
        where = location(self.bucket, prefix)
        if self.calls == 1:  # the very first request: nothing of this input can be read
            raise S3InputError(f"{where}: {reason}")
        self.on_problem(InputProblem(where, reason))

    def _folders(self, prefix: str) -> Iterator[str]:
        """The sub-folders of ``prefix``; the objects directly in it go to the loose ones."""
        for page in self._pages(prefix, delimiter=True):
            self._take(page.get("Contents") or [], self._loose)
            for common in page.get("CommonPrefixes") or []:
                yield str(common["Prefix"])

    def _take(self, contents: Iterable[dict[str, Any]], into: list[Any], keys_only: bool = False) -> None:
        for item in contents:
            key = str(item["Key"])
            self.listed += 1
            if key.endswith("/"):
                continue  # a console-made "folder" object
            kind = skipped_kind(key)
            if kind is None and not key.endswith(DATA_SUFFIXES):
                kind = NOT_DATA
            if kind is not None:
                self.on_skipped(kind)
            elif self.window.keeps(key):
                into.append(key if keys_only else S3Object(self.bucket, key, int(item.get("Size") or 0)))

    def _walk(self, prefix: str) -> None:
        rest = _after_awslogs(prefix) if prefix.endswith("/") else None
        if rest is None or len(rest) <= 1:
            for folder in self._folders(prefix):
                if len(rest or ()) == 1 and _after_awslogs(folder) is not None:
                    service = (_after_awslogs(folder) or [""])[-1]
                    if service.lower() != "cloudtrail":
                        continue  # CloudTrail-Digest, Config...: not listed
                self._walk(folder)
        elif rest[1].lower() != "cloudtrail":
            return
        elif len(rest) == 2:
            for folder in self._folders(prefix):
                self._walk(folder)  # regions
        elif len(rest) <= 6:
            self._plan_days(prefix, rest[3:])
        else:  # deeper than a day: whatever is there
            for page in self._pages(prefix, delimiter=False):
                self._take(page.get("Contents") or [], self._loose)

    def _plan_days(self, prefix: str, dated: list[str]) -> None:
        """The day folders of one region folder (``dated``: the year, month, day already in ``prefix``)."""
        base = prefix[: len(prefix) - sum(len(part) + 1 for part in dated)]
        days = self.window.days(self.today)
        if days is not None:
            for day in days:
                parts = [f"{day.year:04d}", f"{day.month:02d}", f"{day.day:02d}"]
                if parts[: len(dated)] == dated:
                    self._days.setdefault(day, []).append(f"{base}{'/'.join(parts)}/")
            return
        self._discover(prefix, dated)

    def _discover(self, prefix: str, dated: list[str]) -> None:
        if len(dated) == 3:
            try:
                day = dt.date(int(dated[0]), int(dated[1]), int(dated[2]))
            except ValueError:
                return
            if self.window.overlaps(day, day):
                self._days.setdefault(day, []).append(prefix)
            return
        for folder in self._folders(prefix):
            part = folder.rstrip("/").rsplit("/", 1)[-1]
            if not part.isdigit():
                continue
            numbers = [int(p) for p in [*dated, part]]
            try:
                if len(numbers) == 1:
                    first, last = dt.date(numbers[0], 1, 1), dt.date(numbers[0], 12, 31)
                elif len(numbers) == 2:
                    first = dt.date(numbers[0], numbers[1], 1)
                    last = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
                else:
                    first = last = dt.date(*numbers)
            except ValueError:
                continue
            if self.window.overlaps(first, last):
                self._discover(folder, [*dated, part])

    def objects(self) -> Iterator[S3Object]:
        """Every object to read, day by day, each day in the time order of the names."""
        self._walk(self.prefix)
        for day in sorted(self._days):
            found: list[S3Object] = []
            for prefix in self._days.pop(day):
                for page in self._pages(prefix, delimiter=False):
                    self._take(page.get("Contents") or [], found)
            yield from _ordered(found)
        loose, self._loose = self._loose, []
        yield from _ordered(loose)


def _ordered(objects: list[S3Object]) -> list[S3Object]:
    by_location = {obj.location: obj for obj in objects}
    return [by_location[name] for name in in_time_order(by_location)]


# -- reading ------------------------------------------------------------------------------------------


def read_object(client: Any, bucket: str, key: str, max_bytes: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """The bytes of one object, at most ``max_bytes`` (more is an ``ObjectError``, not read further)."""
    from botocore.exceptions import BotoCoreError, ClientError

    where = location(bucket, key)
    try:
        response = client.get_object(Bucket=bucket, Key=key)
        size = int(response.get("ContentLength") or 0)
        if size > max_bytes:
            response["Body"].close()
            raise ObjectError(where, f"{size} bytes, larger than {max_bytes >> 20} MB: not read", transient=False)
        data = bytes(response["Body"].read(max_bytes + 1))
    except ClientError as exc:
        code, reason = _client_error(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        transient = code in TRANSIENT_CODES or status >= 500 or status == 429
        raise ObjectError(where, f"cannot read: {reason}", transient=transient) from None
    except BotoCoreError as exc:
        from trailguard.utils.aws_helpers import botocore_error_is_transient

        reason = f"cannot read: {type(exc).__name__}: {one_line(str(exc))[:200]}"
        raise ObjectError(where, reason, transient=botocore_error_is_transient(exc)) from None
    if len(data) > max_bytes:
        raise ObjectError(where, f"larger than {max_bytes >> 20} MB: not read", transient=False)
    return data


@dataclasses.dataclass
class Fetched:
    """One object as downloaded for the scan: its bytes, or why it could not be read."""

    location: str
    data: bytes | None = None
    problem: str = ""

    def read(self, reader: Reader) -> Iterator[dict[str, Any]]:
        """Its records, through the reader as for a file on disk."""
        reader.stats.files += 1
        if self.data is None:
            reader.stats.problems += 1
            reader.on_problem(InputProblem(self.location, self.problem))
            return iter(())
        return reader.read_bytes(self.data, self.location, self.location.endswith(JSON_LINES_SUFFIXES))


class S3Input:
    """The objects of one or more ``s3://`` inputs, downloaded ``THREADS`` at a time ahead of the
    reader (``AHEAD`` held at most), yielded in reading order."""

    def __init__(
        self,
        urls: Iterable[str],
        window: TimeWindow,
        on_problem: Callable[[InputProblem], None],
        on_skipped: Callable[[str], None],
        *,
        max_bytes: int = MAX_DECOMPRESSED_BYTES,
        client: Any = None,
        threads: int = THREADS,
        ahead: int = AHEAD,
    ) -> None:
        self.urls = [parse_s3_url(url) for url in urls]
        self.window = window
        self.on_problem = on_problem
        self.on_skipped = on_skipped
        self.max_bytes = max_bytes
        self.threads = threads
        self.ahead = max(ahead, threads)
        self.listings: list[S3Listing] = []
        if client is None:
            from trailguard.utils.aws_helpers import AwsClients, require_boto3

            require_boto3("reading s3://")
            client = AwsClients().client("s3")  # AWS_ENDPOINT_URL, credentials and region as boto3 finds them
        self.client = client

    @property
    def listed(self) -> int:
        """Objects listed so far (the progress bar's total)."""
        return sum(listing.listed for listing in self.listings)

    def _objects(self) -> Iterator[S3Object]:
        for bucket, prefix in self.urls:
            listing = S3Listing(
                self.client, bucket, prefix, window=self.window, on_problem=self.on_problem, on_skipped=self.on_skipped
            )
            self.listings.append(listing)
            yield from listing.objects()

    def _fetch(self, obj: S3Object) -> Fetched:
        if obj.size > self.max_bytes:
            return Fetched(obj.location, problem=f"{obj.size} bytes, larger than {self.max_bytes >> 20} MB: not read")
        try:
            return Fetched(obj.location, read_object(self.client, obj.bucket, obj.key, self.max_bytes))
        except ObjectError as exc:
            return Fetched(obj.location, problem=exc.reason)

    def __iter__(self) -> Iterator[Fetched]:
        from concurrent.futures import Future, ThreadPoolExecutor

        pending: deque[Future[Fetched]] = deque()
        with ThreadPoolExecutor(self.threads, thread_name_prefix="trailguard-s3") as pool:
            try:
                for obj in self._objects():
                    pending.append(pool.submit(self._fetch, obj))
                    if len(pending) >= self.ahead:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for future in pending:
                    future.cancel()
