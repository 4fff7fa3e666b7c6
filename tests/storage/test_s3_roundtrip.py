"""Publishing and fetching through the embedded S3 server over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from relevance_distill import storage


def _make_dir(root, files):
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def test_server_speaks_http_on_loopback(s3_server):
    assert s3_server.endpoint.startswith("http://127.0.0.1:")
    assert os.environ["AWS_ENDPOINT_URL"] == s3_server.endpoint
    with urllib.request.urlopen(f"{s3_server.endpoint}/moto-api/", timeout=5) as response:
        assert response.status == 200


def test_publish_then_fetch_round_trip(s3_bucket, tmp_path):
    source = _make_dir(tmp_path / "src", {"a.txt": b"alpha", "nested/b.bin": os.urandom(2048), "empty": b""})
    uri = f"{s3_bucket}/models/m/1"
    manifest = storage.publish_dir(source, uri, metadata={"stage": "test"})
    assert set(manifest.files) == {"a.txt", "nested/b.bin", "empty"}
    assert storage.list_files(uri) == sorted(["a.txt", "nested/b.bin", "empty", "manifest.json"])
    fetched = storage.fetch_dir(uri, tmp_path / "dst")
    for relative in manifest.files:
        assert (fetched / relative).read_bytes() == (source / relative).read_bytes()
    recorded = json.loads((fetched / "manifest.json").read_text())
    assert recorded["files"]["a.txt"]["sha256"] == storage.sha256_file(source / "a.txt")
    assert recorded["metadata"] == {"stage": "test"}
    assert recorded["total_bytes"] == 5 + 2048


def test_fetch_detects_checksum_mismatch(s3_bucket, tmp_path):
    uri = f"{s3_bucket}/artifact"
    storage.publish_dir(_make_dir(tmp_path / "src", {"weights.bin": b"original"}), uri)
    storage.write_bytes(f"{uri}/weights.bin", b"tampered")  # same size, other bytes
    with pytest.raises(storage.ChecksumMismatchError, match="weights.bin has sha256"):
        storage.fetch_dir(uri, tmp_path / "dst")
    storage.write_bytes(f"{uri}/weights.bin", b"short")
    with pytest.raises(storage.ChecksumMismatchError, match="has 5 bytes, manifest says 8"):
        storage.fetch_dir(uri, tmp_path / "dst2")


@pytest.mark.parametrize("name", ["../escaped.txt", "nested/../../escaped.txt", "/etc/cron.d/job", "C:/x", "a\\..\\b", ""])
def test_fetch_refuses_manifest_entries_outside_the_target(s3_bucket, tmp_path, name):
    """A tampered manifest must not write outside the directory it is fetched into."""
    uri = f"{s3_bucket}/tampered"
    manifest = storage.publish_dir(_make_dir(tmp_path / "src", {"ok.txt": b"fine"}), uri)
    document = json.loads(manifest.to_json())
    document["files"][name] = document["files"]["ok.txt"]
    storage.write_bytes(f"{uri}/manifest.json", json.dumps(document).encode())
    with pytest.raises(storage.UnsafeManifestError, match="not a relative path inside"):
        storage.fetch_dir(uri, tmp_path / "target" / "dst")
    assert not (tmp_path / "target" / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()


def test_fetch_refuses_a_symlink_that_leads_outside(s3_bucket, tmp_path):
    uri = f"{s3_bucket}/linked"
    storage.publish_dir(_make_dir(tmp_path / "src", {"nested/weights.bin": b"weights"}), uri)
    target = tmp_path / "dst"
    (tmp_path / "elsewhere").mkdir()
    target.mkdir()
    (target / "nested").symlink_to(tmp_path / "elsewhere")  # planted before the fetch
    with pytest.raises(storage.UnsafeManifestError, match="leads outside"):
        storage.fetch_dir(uri, target)
    assert not (tmp_path / "elsewhere" / "weights.bin").exists()
    # The same for a local directory verified in place.
    local = _make_dir(tmp_path / "local", {"model.bin": b"m"})
    storage.publish_dir(local, str(tmp_path / "published"))
    (tmp_path / "published" / "model.bin").unlink()
    (tmp_path / "published" / "model.bin").symlink_to(tmp_path / "local" / "model.bin")
    with pytest.raises(storage.UnsafeManifestError):
        storage.fetch_dir(str(tmp_path / "published"))


def test_fetch_refuses_prefix_without_manifest(s3_bucket, tmp_path):
    storage.write_bytes(f"{s3_bucket}/loose/file.txt", b"x")
    with pytest.raises(storage.ManifestMissingError, match="has no manifest.json"):
        storage.fetch_dir(f"{s3_bucket}/loose", tmp_path / "dst")


def test_interrupted_upload_is_not_visible_as_published(s3_bucket, tmp_path, monkeypatch):
    source = _make_dir(tmp_path / "src", {f"part-{i}.bin": os.urandom(100) for i in range(5)})
    uri = f"{s3_bucket}/interrupted"
    real_upload = storage.upload_file
    uploaded = []

    def upload_then_die(local, target, threshold=64):
        if len(uploaded) == 3:
            raise ConnectionError("simulated network failure mid-publish")
        uploaded.append(target)
        real_upload(local, target, threshold)

    monkeypatch.setattr(storage, "upload_file", upload_then_die)
    with pytest.raises(ConnectionError):
        storage.publish_dir(source, uri)
    assert len(storage.list_files(uri)) == 3  # data landed, but no manifest
    with pytest.raises(storage.ManifestMissingError):
        storage.fetch_dir(uri, tmp_path / "dst")


def test_republish_retracts_old_manifest_before_uploading(s3_bucket, tmp_path, monkeypatch):
    uri = f"{s3_bucket}/republish"
    storage.publish_dir(_make_dir(tmp_path / "v1", {"a.txt": b"one"}), uri)
    real_upload = storage.upload_file

    def fail_upload(local, target, threshold=64):
        real_upload(local, target, threshold)
        raise ConnectionError("died after first file of version 2")

    monkeypatch.setattr(storage, "upload_file", fail_upload)
    with pytest.raises(ConnectionError):
        storage.publish_dir(_make_dir(tmp_path / "v2", {"a.txt": b"two", "b.txt": b"more"}), uri)
    # The old manifest would now describe mixed files; it must be gone rather than wrong.
    with pytest.raises(storage.ManifestMissingError):
        storage.read_manifest(uri)


def test_large_file_uses_multipart_upload(s3_bucket, tmp_path):
    big = tmp_path / "src" / "big.bin"
    big.parent.mkdir()
    big.write_bytes(os.urandom(11 * 1024 * 1024))
    uri = f"{s3_bucket}/big"
    storage.publish_dir(big.parent, uri, multipart_threshold_mb=5)
    bucket, key = storage.split_s3_uri(f"{uri}/big.bin")
    etag = storage.s3_client().head_object(Bucket=bucket, Key=key)["ETag"]
    assert etag.strip('"').endswith("-3"), f"expected a 3-part multipart ETag, got {etag}"
    fetched = storage.fetch_dir(uri, tmp_path / "dst", multipart_threshold_mb=5)
    assert storage.sha256_file(fetched / "big.bin") == storage.sha256_file(big)


def test_read_missing_object_is_file_not_found(s3_bucket):
    with pytest.raises(FileNotFoundError):
        storage.read_bytes(f"{s3_bucket}/nope.txt")
    assert not storage.exists(f"{s3_bucket}/nope.txt")


def test_local_paths_share_the_interface(tmp_path):
    source = _make_dir(tmp_path / "src", {"x/y.txt": b"hello"})
    target = str(tmp_path / "published")
    storage.publish_dir(source, target)
    assert storage.fetch_dir(target) == tmp_path / "published"
    (tmp_path / "published" / "x" / "y.txt").write_bytes(b"HELLO")
    with pytest.raises(storage.ChecksumMismatchError):
        storage.fetch_dir(target)
    with pytest.raises(storage.ManifestMissingError):
        storage.fetch_dir(str(tmp_path / "src"))


def test_embedded_server_stops_by_pid(tmp_path):
    server = storage.EmbeddedS3().start()
    pid = server.pid
    os.kill(pid, 0)  # alive
    server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_an_s3_prefix_fetched_without_a_target_is_one_cached_copy_per_process_gone_at_exit(s3_bucket, tmp_path):
    uri = f"{s3_bucket}/models/cached"
    storage.publish_dir(_make_dir(tmp_path / "v1", {"weights.bin": b"first"}), uri)
    first = storage.fetch_dir(uri)
    assert storage.fetch_dir(uri) == first and (first / "weights.bin").read_bytes() == b"first"
    storage.publish_dir(_make_dir(tmp_path / "v2", {"weights.bin": b"second!"}), uri)  # republished: a new manifest
    second = storage.fetch_dir(uri)
    assert (second / "weights.bin").read_bytes() == b"second!"
    assert second == first  # the stale copy was replaced in place, not kept beside a new one
    # a process that fetches leaves no copy behind in its temporary folder
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    code = ("import sys; from relevance_distill import storage; "
            "path = storage.fetch_dir(sys.argv[1]); assert storage.fetch_dir(sys.argv[1]) == path; print(path)")
    done = subprocess.run([sys.executable, "-c", code, uri], env={**os.environ, "TMPDIR": str(scratch)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(scratch)) and list(scratch.iterdir()) == []
