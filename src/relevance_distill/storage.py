"""One interface over local paths and ``s3://`` URIs, atomic publishing with checksums, and an embedded S3.

Endpoint and credentials come from the standard AWS variables (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``), which in Kubernetes are set
from a Secret reference; nothing here ever logs or stores them.

Publishing protocol: ``publish_dir`` removes any previous ``manifest.json`` under the prefix, uploads every
data file, and writes ``manifest.json`` (sha256 and size per file) last. A prefix without a manifest is
therefore never complete, and ``fetch_dir`` refuses it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from relevance_distill.processes import (
    free_loopback_port,
    stop_process,
    wait_until_ready,
)

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
_HASH_CHUNK = 1 << 20


class StorageError(RuntimeError):
    """Base class for storage failures."""


class ManifestMissingError(StorageError):
    """The prefix has no manifest: it was never published, or its upload did not finish."""


class ChecksumMismatchError(StorageError):
    """A fetched file differs from what the manifest recorded."""


class UnsafeManifestError(StorageError):
    """A manifest names a file outside the directory it describes (``..``, an absolute path, a symlink)."""


def checked_relative_path(name: str, source: str) -> PurePosixPath:
    """NAME as a relative POSIX path that stays inside its directory; anything else raises UnsafeManifestError."""
    path = PurePosixPath(name)
    if (not name or "\\" in name or "\x00" in name or path.is_absolute() or ".." in path.parts
            or re.match(r"^[A-Za-z]:", name)):
        raise UnsafeManifestError(f"manifest {source} names {name!r}, which is not a relative path inside the "
                                  "published directory")
    return path


def inside(root: Path, relative: PurePosixPath, source: str) -> Path:
    """ROOT/RELATIVE, refused when a symlink on the way leads outside ROOT."""
    path = root / relative
    resolved_root = root.resolve()
    if not path.resolve().is_relative_to(resolved_root) or path.is_symlink():
        raise UnsafeManifestError(f"manifest {source}: {relative} leads outside {root} (a symlink); refusing it")
    return path


def is_s3(uri: str | os.PathLike[str]) -> bool:
    return str(uri).startswith("s3://")


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key/part`` -> (``bucket``, ``key/part``)."""
    if not is_s3(uri):
        raise ValueError(f"not an s3 URI: {uri!r}; expected 's3://bucket/key'")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"s3 URI without a bucket: {uri!r}")
    return bucket, key


def local_path(uri: str | os.PathLike[str]) -> Path:
    text = str(uri)
    return Path(text[len("file://") :] if text.startswith("file://") else text)


def join(uri: str | os.PathLike[str], *parts: str) -> str:
    """Join path parts onto a URI or local path with '/' (S3 keys never use the OS separator)."""
    text = str(uri)
    if is_s3(text):
        return "/".join([text.rstrip("/"), *(part.strip("/") for part in parts)])
    return str(local_path(text).joinpath(*parts))


_clients: dict[tuple[str | None, str | None], Any] = {}


def s3_client(endpoint_url: str | None = None) -> Any:
    """A boto3 S3 client; ``endpoint_url`` wins over ``AWS_ENDPOINT_URL``, which wins over AWS itself."""
    import boto3
    from botocore.config import Config

    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    cache_key = (endpoint, os.environ.get("AWS_ACCESS_KEY_ID"))
    if cache_key not in _clients:
        _clients[cache_key] = boto3.client(
            "s3",
            endpoint_url=endpoint,
            # Path-style addressing works with every S3-compatible server (MinIO, SeaweedFS, moto).
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5, "mode": "standard"}),
        )
    return _clients[cache_key]


def _transfer_config(multipart_threshold_mb: int) -> Any:
    from boto3.s3.transfer import TransferConfig

    size = multipart_threshold_mb * 1024 * 1024
    return TransferConfig(multipart_threshold=size, multipart_chunksize=size)


def exists(uri: str) -> bool:
    if is_s3(uri):
        from botocore.exceptions import ClientError

        bucket, key = split_s3_uri(uri)
        try:
            s3_client().head_object(Bucket=bucket, Key=key)
            return True
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
    return local_path(uri).exists()


def read_bytes(uri: str) -> bytes:
    if is_s3(uri):
        from botocore.exceptions import ClientError

        bucket, key = split_s3_uri(uri)
        try:
            return s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                raise FileNotFoundError(uri) from None
            raise
    return local_path(uri).read_bytes()


def read_text(uri: str) -> str:
    return read_bytes(uri).decode("utf-8")


def write_bytes(uri: str, data: bytes) -> None:
    """Write one object; local writes go through a temporary file and ``os.replace`` so readers never see half."""
    if is_s3(uri):
        bucket, key = split_s3_uri(uri)
        s3_client().put_object(Bucket=bucket, Key=key, Body=data)
        return
    path = local_path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
        handle.write(data)
        temporary = handle.name
    os.replace(temporary, path)


def write_text(uri: str, text: str) -> None:
    write_bytes(uri, text.encode("utf-8"))


def delete(uri: str) -> None:
    if is_s3(uri):
        bucket, key = split_s3_uri(uri)
        s3_client().delete_object(Bucket=bucket, Key=key)
    else:
        local_path(uri).unlink(missing_ok=True)


def list_files(prefix_uri: str) -> list[str]:
    """Relative paths of every file under a prefix/directory, sorted."""
    if is_s3(prefix_uri):
        bucket, key = split_s3_uri(prefix_uri)
        prefix = key.rstrip("/") + "/" if key else ""
        paginator = s3_client().get_paginator("list_objects_v2")
        found = []
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            found.extend(item["Key"][len(prefix) :] for item in page.get("Contents", []))
        return sorted(found)
    root = local_path(prefix_uri)
    if not root.is_dir():
        return []
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


def upload_file(local: str | Path, uri: str, multipart_threshold_mb: int = 64) -> None:
    if is_s3(uri):
        bucket, key = split_s3_uri(uri)
        s3_client().upload_file(str(local), bucket, key, Config=_transfer_config(multipart_threshold_mb))
        return
    destination = local_path(uri)
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.partial")
    shutil.copyfile(local, temporary)
    os.replace(temporary, destination)


def download_file(uri: str, local: str | Path, multipart_threshold_mb: int = 64) -> Path:
    local = Path(local)
    local.parent.mkdir(parents=True, exist_ok=True)
    if is_s3(uri):
        bucket, key = split_s3_uri(uri)
        s3_client().download_file(bucket, key, str(local), Config=_transfer_config(multipart_threshold_mb))
    else:
        shutil.copyfile(local_path(uri), local)
    return local


def ensure_bucket(uri: str) -> None:
    """Create the bucket of an s3 URI if it does not exist (local runs and tests; production buckets exist)."""
    if not is_s3(uri):
        local_path(uri).mkdir(parents=True, exist_ok=True)
        return
    from botocore.exceptions import ClientError

    bucket, _ = split_s3_uri(uri)
    client = s3_client()
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError:
        client.create_bucket(Bucket=bucket)


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Manifest:
    files: dict[str, dict[str, Any]]
    created_at: str
    metadata: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": MANIFEST_FORMAT,
                "created_at": self.created_at,
                "total_bytes": sum(entry["size"] for entry in self.files.values()),
                "files": self.files,
                "metadata": self.metadata,
            },
            indent=2,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str, source: str) -> Manifest:
        try:
            data = json.loads(text)
            files = data["files"]
            if data.get("format") != MANIFEST_FORMAT or not isinstance(files, dict):
                raise ValueError(f"format {data.get('format')!r}, expected {MANIFEST_FORMAT}")
            for name, entry in files.items():
                if not isinstance(entry.get("sha256"), str) or not isinstance(entry.get("size"), int):
                    raise ValueError(f"entry {name!r} lacks sha256/size")
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise StorageError(f"manifest {source} is malformed: {error}") from None
        for name in files:
            checked_relative_path(name, source)
        return cls(files=files, created_at=data.get("created_at", ""), metadata=data.get("metadata", {}))


def _iter_local_files(root: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            relative = path.relative_to(root).as_posix()
            if relative != MANIFEST_NAME:
                yield relative, path


def publish_dir(
    local_dir: str | Path,
    uri: str,
    metadata: dict[str, Any] | None = None,
    multipart_threshold_mb: int = 64,
) -> Manifest:
    """Upload every file of ``local_dir`` to ``uri``, then write the manifest last (see module docstring)."""
    root = Path(local_dir)
    if not root.is_dir():
        raise StorageError(f"cannot publish {str(root)!r}: not a directory")
    files = {relative: {"sha256": sha256_file(path), "size": path.stat().st_size} for relative, path in _iter_local_files(root)}
    if not files:
        raise StorageError(f"cannot publish {str(root)!r}: it holds no files")
    manifest_uri = join(uri, MANIFEST_NAME)
    # Readers must never pair an old manifest with new files: retract it before touching any data.
    if exists(manifest_uri):
        delete(manifest_uri)
    for relative in files:
        upload_file(root / relative, join(uri, relative), multipart_threshold_mb)
    manifest = Manifest(
        files=files, created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), metadata=metadata or {}
    )
    write_text(manifest_uri, manifest.to_json())
    return manifest


def content_digest(uri: str) -> str:
    """sha256 identifying what a published prefix (its manifest) or a local directory (its files' checksums) holds:
    the same model gives the same digest wherever it lies; any changed file changes it."""
    if exists(join(uri, MANIFEST_NAME)):
        files = read_manifest(uri).files
    else:
        root = local_path(uri)
        if not root.is_dir():
            raise FileNotFoundError(f"{uri} is neither a published prefix (no {MANIFEST_NAME}) nor a directory")
        files = {name: sha256_file(path) for name, path in _iter_local_files(root)}
    listing = "\n".join(f"{name}\t{entry}" for name, entry in sorted((n, json.dumps(v, sort_keys=True)) for n, v in files.items()))
    return hashlib.sha256(listing.encode()).hexdigest()


def read_manifest(uri: str) -> Manifest:
    manifest_uri = join(uri, MANIFEST_NAME)
    try:
        text = read_text(manifest_uri)
    except FileNotFoundError:
        raise ManifestMissingError(
            f"{uri} has no {MANIFEST_NAME}: it was never published or its upload did not finish"
        ) from None
    return Manifest.from_json(text, manifest_uri)


def verify_dir(local_dir: str | Path, manifest: Manifest, source: str) -> None:
    root = Path(local_dir)
    for relative, entry in manifest.files.items():
        path = inside(root, checked_relative_path(relative, source), source)
        if not path.is_file():
            raise ChecksumMismatchError(f"{source}: {relative} is listed in the manifest but missing")
        size = path.stat().st_size
        if size != entry["size"]:
            raise ChecksumMismatchError(f"{source}: {relative} has {size} bytes, manifest says {entry['size']}")
        digest = sha256_file(path)
        if digest != entry["sha256"]:
            raise ChecksumMismatchError(f"{source}: {relative} has sha256 {digest}, manifest says {entry['sha256']}")


def require_published_model(uri: str) -> Manifest:
    """The manifest of a published Hugging Face model at ``uri``; an error names what is missing. Reads the
    manifest only, so even a 7B model is checked in seconds."""
    manifest = read_manifest(uri)
    if "config.json" not in manifest.files or not any(name.endswith(".safetensors") for name in manifest.files):
        raise ValueError(f"{uri} is not a published model: its manifest lists {sorted(manifest.files)[:10]}, "
                         "expected config.json and *.safetensors")
    return manifest


# s3:// prefixes fetched without a local_dir: one copy per prefix and process (a pipeline step loads the same model
# several times), under one folder removed when the process exits.
_fetch_cache: Path | None = None


def _fetch_cache_dir() -> Path:
    global _fetch_cache
    if _fetch_cache is None or not _fetch_cache.is_dir():
        import atexit

        _fetch_cache = Path(tempfile.mkdtemp(prefix="relevance-distill-fetched-"))
        atexit.register(shutil.rmtree, _fetch_cache, ignore_errors=True)
    return _fetch_cache


def fetch_dir(uri: str, local_dir: str | Path | None = None, multipart_threshold_mb: int = 64) -> Path:
    """Download a published prefix and verify every file against its manifest.

    A local ``uri`` with no ``local_dir`` is verified in place and returned as it is. An s3:// ``uri`` with no
    ``local_dir`` goes to this process's fetch cache: fetched again only when its manifest changed, removed at exit.
    """
    manifest = read_manifest(uri)
    if not is_s3(uri) and local_dir is None:
        verify_dir(local_path(uri), manifest, uri)
        return local_path(uri)
    if local_dir is None:
        target = _fetch_cache_dir() / hashlib.sha256(uri.encode("utf-8")).hexdigest()[:24]
        kept = target / MANIFEST_NAME  # written last by a complete fetch
        if kept.is_file() and kept.read_text(encoding="utf-8") == manifest.to_json():
            return target
        shutil.rmtree(target, ignore_errors=True)
        return _download_verified(uri, manifest, target, multipart_threshold_mb)
    return _download_verified(uri, manifest, Path(local_dir), multipart_threshold_mb)


def fetch_unpublished_dir(uri: str, required: str | None = None) -> Path:
    """Download every file under an s3:// prefix that was not published with a manifest (e.g. a Hugging Face
    directory copied with ``aws s3 cp --recursive``) into this process's fetch cache, removed at exit. Nothing can be
    verified; REQUIRED names a file that must be there."""
    files = list_files(uri)
    if required is not None and required not in files:
        raise FileNotFoundError(f"{uri} holds no {required} (found {files[:5]}{' …' if len(files) > 5 else ''})")
    target = _fetch_cache_dir() / ("unpublished-" + hashlib.sha256(uri.encode("utf-8")).hexdigest()[:24])
    for relative in files:
        download_file(join(uri, relative), inside(target, checked_relative_path(relative, uri), uri))
    return target


def _download_verified(uri: str, manifest: Manifest, target: Path, multipart_threshold_mb: int) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for relative in manifest.files:
        destination = inside(target, checked_relative_path(relative, uri), uri)
        download_file(join(uri, relative), destination, multipart_threshold_mb)
    verify_dir(target, manifest, uri)
    (target / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
    return target


class EmbeddedS3:
    """moto's S3-compatible server in its own process on a free 127.0.0.1 port; stopped by PID.

    Use as a context manager, or ``start()``/``stop()``. ``env()`` gives the variables that point boto3 at it
    (the access keys are moto's fixed dummy values, not secrets).
    """

    def __init__(self, port: int | None = None, startup_timeout_s: float = 30.0, log_path: str | Path | None = None):
        self.port = port or free_loopback_port()
        self.startup_timeout_s = startup_timeout_s
        self.log_path = Path(log_path) if log_path else None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def start(self) -> EmbeddedS3:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def answers() -> bool:
            with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1):
                return True

        try:
            wait_until_ready(self.process, answers, self.startup_timeout_s, f"embedded S3 server on {self.endpoint}")
        except RuntimeError as error:
            self.process = None
            raise StorageError(str(error)) from None
        return self

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None

    def __enter__(self) -> EmbeddedS3:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
