"""Every adapter on fixtures the tests write, and on the real datasets in ../shared/data when present."""

from __future__ import annotations

import io
import json
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from relevance_distill import storage
from relevance_distill.data.adapters import open_adapter
from relevance_distill.data.validate import validate_file, validate_rows
from relevance_distill.schemas import get_label_scheme


def _validate(fmt, uri, products=None):
    scheme = get_label_scheme({"crowdflower": "crowdflower", "esci": "esci", "qbqtc": "qbqtc", "jsonl": "local_services"}[fmt])
    return validate_rows(open_adapter(fmt, uri, products), scheme)


def test_crowdflower_zip(tmp_path):
    buffer = io.StringIO()
    buffer.write('"id","query","product_title","product_description","median_relevance","relevance_variance"\n')
    buffer.write('1,"led lights","Set of 10 LED Lights","Bulbs ""warm"" white",4,0\n')
    buffer.write('2,"projector","ViewSonic Projector","",3,0.471\n')
    path = tmp_path / "train.csv.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("train.csv", buffer.getvalue())
    kept, quarantine, report = _validate("crowdflower", str(path))
    assert report.kept == 2 and not quarantine
    assert kept[0].label == "perfect" and kept[0].service.description == 'Bulbs "warm" white'
    assert kept[1].label == "mostly" and kept[1].metadata["relevance_variance"] == pytest.approx(0.471)
    assert kept[0].pair_id == "crowdflower-1" and kept[0].language == "en"


def test_qbqtc_json_lines(tmp_path):
    path = tmp_path / "dev.json"
    rows = [{"id": 0, "query": "小孩咳嗽", "title": "宝宝咳嗽怎么办", "label": "1"},
            {"id": 1, "query": "天气", "title": "北京天气", "label": "2"},
            {"id": 2, "query": "天气", "title": "无关", "label": "3"}]
    path.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in rows), encoding="utf-8")
    kept, quarantine, report = _validate("qbqtc", str(path))
    assert [pair.label for pair in kept] == ["related", "strong"]
    assert quarantine[0]["reason_code"] == "unknown_label"


def test_esci_parquet_with_vespa_products_zstd(tmp_path):
    examples = tmp_path / "examples.parquet"
    pq.write_table(pa.table({
        "example_id": [1, 2, 3], "query": ["usb cable", "usb cable", "usb cable"], "query_id": [9, 9, 9],
        "product_id": ["B1", "B2", "B3"], "product_locale": ["us"] * 3, "esci_label": ["E", "C", "S"],
    }), examples)
    products = tmp_path / "products.jsonl.zstd"
    lines = [{"put": "id:x::B1", "fields": {"id": "B1", "title": "USB-C Cable", "description": "fast", "brand": "Anker", "bullets": ["1m", "braided"]}},
             {"put": "id:x::B2", "fields": {"id": "B2", "title": "USB Charger", "color": "white"}}]
    products.write_bytes(zstandard.ZstdCompressor().compress("\n".join(json.dumps(line) for line in lines).encode()))
    kept, quarantine, report = _validate("esci", str(examples), str(products))
    assert [pair.label for pair in kept] == ["exact", "complement"]
    assert kept[0].service.attributes == {"brand": "Anker"} and "braided" in kept[0].service.description
    assert kept[0].query_id == "9" and kept[0].pair_id == "esci-1"
    assert quarantine[0]["reason_code"] == "missing_product"


def test_esci_requires_products():
    with pytest.raises(ValueError, match="products"):
        open_adapter("esci", "x.parquet")


def test_unknown_format_lists_allowed():
    with pytest.raises(ValueError, match=r"allowed: \['crowdflower', 'esci', 'jsonl', 'qbqtc'\]"):
        open_adapter("tsv", "x")


def test_validate_reads_from_and_writes_to_s3(s3_bucket, tmp_path):
    source = tmp_path / "pairs.jsonl"
    source.write_text(json.dumps({"query": "q", "service": {"service_id": "s", "title": "t"}, "label": "weak"}) + "\n{bad\n")
    storage.upload_file(source, f"{s3_bucket}/in/pairs.jsonl")
    report = validate_file(f"{s3_bucket}/in/pairs.jsonl", "jsonl", f"{s3_bucket}/out/kept.jsonl",
                           f"{s3_bucket}/out/bad.jsonl", get_label_scheme("local_services"))
    assert (report.kept, report.quarantined) == (1, 1)
    assert json.loads(storage.read_text(f"{s3_bucket}/out/bad.jsonl"))["reason_code"] == "bad_json"


@pytest.mark.shared_data
def test_real_crowdflower(shared_data):
    kept, quarantine, report = _validate("crowdflower", str(shared_data / "crowdflower" / "train.csv.zip"))
    assert report.rows_in == 10158 and report.kept + report.quarantined == 10158
    assert set(report.labels) == {"irrelevant", "somewhat", "mostly", "perfect"}
    assert all(row["reason_code"] == "duplicate" for row in quarantine)
    assert sum(1 for pair in kept if not pair.service.description) > 0.2 * len(kept)


@pytest.mark.shared_data
def test_real_qbqtc(shared_data):
    kept, quarantine, report = _validate("qbqtc", str(shared_data / "qbqtc" / "dev.json"))
    assert report.rows_in == 20000 and report.kept > 19000
    assert set(report.labels) == {"unrelated", "related", "strong"}


@pytest.mark.shared_data
def test_real_esci_vespa_sample(shared_data):
    folder = shared_data / "esci_vespa_sample"
    kept, quarantine, report = _validate("esci", str(folder / "test-sample.parquet"), str(folder / "sample-products.jsonl.zstd"))
    assert report.rows_in == 16 and report.kept == 16
    assert {pair.label for pair in kept} <= {"exact", "substitute", "irrelevant"}
    assert all(pair.service.title for pair in kept)
