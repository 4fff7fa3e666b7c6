"""Row readers for JSONL, CSV and Parquet files, local or on S3, plain or compressed.

Readers yield ``(row_number, row)`` and never judge rows: a JSONL line that is not JSON is yielded as its
raw text so that validation can quarantine it with a reason instead of the reader failing the whole file.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from relevance_distill import storage

# CrowdFlower descriptions exceed the csv module's default 128 KiB field limit in a few rows.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@contextlib.contextmanager
def local_copy(uri: str) -> Iterator[Path]:
    """A local path for ``uri``: the file itself, or a temporary download of an S3 object."""
    if not storage.is_s3(uri):
        path = storage.local_path(uri)
        if not path.exists():
            raise FileNotFoundError(f"input {uri!r} does not exist")
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="relevance-distill-") as directory:
        yield storage.download_file(uri, Path(directory) / Path(storage.split_s3_uri(uri)[1]).name)


@contextlib.contextmanager
def open_text(path: Path) -> Iterator[io.TextIOBase]:
    """Open a local file as UTF-8 text, transparently decompressing .gz, .zst/.zstd and single-member .zip."""
    name = path.name.lower()
    if name.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
            yield handle
    elif name.endswith((".zst", ".zstd")):
        import zstandard

        with open(path, "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as decompressed:
            yield io.TextIOWrapper(decompressed, encoding="utf-8", newline="")
    elif name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if len(members) != 1:
                raise ValueError(f"{path} must hold exactly one file, holds {[m.filename for m in members]}")
            with archive.open(members[0]) as member:
                yield io.TextIOWrapper(member, encoding="utf-8", newline="")
    else:
        with open(path, encoding="utf-8", newline="") as handle:
            yield handle


def iter_jsonl(uri: str) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed object or, when the line is not valid JSON, the raw text); blank lines skipped."""
    with local_copy(uri) as path, open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError:
                yield number, line.rstrip("\n")


def iter_csv(uri: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (data row number, row dict) of a CSV file with a header row."""
    with local_copy(uri) as path, open_text(path) as handle:
        for number, row in enumerate(csv.DictReader(handle), start=1):
            yield number, row


def iter_parquet(uri: str, batch_size: int = 10_000) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    with local_copy(uri) as path:
        parquet = pq.ParquetFile(path)
        number = 0
        for batch in parquet.iter_batches(batch_size=batch_size):
            for row in batch.to_pylist():
                number += 1
                yield number, row


def iter_rows(uri: str) -> Iterator[tuple[int, Any]]:
    """Pick the reader from the file name: .parquet, .csv[.gz|.zip], otherwise JSON lines."""
    name = uri.lower()
    for suffix in (".gz", ".zip", ".zst", ".zstd"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith(".parquet"):
        return iter_parquet(uri)
    if name.endswith(".csv"):
        return iter_csv(uri)
    return iter_jsonl(uri)


def jsonl_line(record: BaseModel | dict[str, Any]) -> str:
    """One record as a JSON line (without the newline)."""
    if isinstance(record, BaseModel):
        return record.model_dump_json()
    return json.dumps(record, ensure_ascii=False, default=str)


def write_jsonl(uri: str, records: Iterable[BaseModel | dict[str, Any]]) -> int:
    """Write records one JSON object per line (atomically, see storage.write_bytes); returns the count."""
    lines = [jsonl_line(record) for record in records]
    storage.write_text(uri, "".join(line + "\n" for line in lines))
    return len(lines)


class JsonlWriter:
    """Append records to a local JSONL file one line at a time (streaming stages; publish the folder afterwards)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.handle = open(self.path, "w", encoding="utf-8")
        self.count = 0

    def write(self, record: BaseModel | dict[str, Any]) -> None:
        self.handle.write(jsonl_line(record) + "\n")
        self.count += 1

    def close(self) -> None:
        self.handle.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def iter_models(uri: str, model: type[BaseModel]) -> Iterator[Any]:
    """Stream a JSONL file of already-validated records (a stage's own output); any bad line is an error."""
    for number, row in iter_jsonl(uri):
        if not isinstance(row, dict):
            raise ValueError(f"{uri}:{number} is not a JSON object")
        yield model.model_validate(row)


def read_models(uri: str, model: type[BaseModel]) -> list[Any]:
    """``iter_models`` as a list."""
    return list(iter_models(uri, model))
