"""What the default student's English vocabulary does to Chinese text, measured on QBQTC.

    python benchmarks/cjk_vocabulary.py [--data ../shared/data/qbqtc/dev.json] [--json OUT]

The packaged all-MiniLM-L6-v2 WordPiece vocabulary was built for English. For the query and title texts of QBQTC
(split 80/20 by row here), it counts the CJK characters the tokenizer maps to [UNK] as it ships, how many
characters the student adds from the training 80 % (``student.model.extend_vocabulary``; their embeddings are
drawn around the existing ones' mean and carry no pretrained meaning), and the share of the held-out 20 %'s CJK characters still [UNK] after.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "qbqtc" / "dev.json"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from relevance_distill.data.readers import iter_jsonl
    from relevance_distill.student.model import _CJK, extend_vocabulary, minilm_dir

    rows = [row for _, row in iter_jsonl(args.data) if isinstance(row, dict)]
    texts = [f"{row['query']} {row['title']}" for row in rows]
    cut = int(len(texts) * 0.8)
    train, held_out = texts[:cut], texts[cut:]
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    unk = tokenizer.unk_token_id

    def unknown_share(corpus: list[str]) -> tuple[int, float]:
        chars = [char for text in corpus for char in _CJK.findall(text)]
        return len(chars), sum(tokenizer.convert_tokens_to_ids(char) == unk for char in chars) / max(1, len(chars))

    total, before = unknown_share(held_out)
    distinct = len({char for text in held_out for char in _CJK.findall(text)})
    vocabulary = len(tokenizer)
    model = AutoModelForSequenceClassification.from_pretrained(minilm_dir(), num_labels=3)
    added = extend_vocabulary(tokenizer, model, train)
    _, after = unknown_share(held_out)
    result = {"data": args.data, "rows": len(rows), "held_out_cjk_characters": total, "held_out_distinct": distinct,
              "vocabulary": vocabulary, "unk_share_as_shipped": before, "characters_added_from_train": len(added),
              "unk_share_after_extension": after}
    print(f"MiniLM vocabulary {vocabulary}: {before:.1%} of {total} held-out CJK characters ({distinct} distinct) are "
          f"[UNK] as shipped; the student adds {len(added)} characters seen in training (embeddings drawn around the old ones' mean, no "
          f"pretrained meaning); {after:.1%} remain [UNK] on held-out text")
    if args.json:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _machine import provenance

        args.json.write_text(json.dumps({**result, "provenance": provenance()}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
