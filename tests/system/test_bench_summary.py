"""`python -m bench summary` runs on the operations as they are today (a smoke run on the tiny
summariser): it broke once when the operations' signature changed and nothing ran it."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench import summary


def _args(out: Path) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path)
    summary.add_arguments(parser)
    return parser.parse_args(
        ["--out", str(out), "--articles", "qusayr-article.txt", "--beams", "1", "--clients", "1"]
        + ["--reps", "2", "--torch-threads", "1", "--name", "smoke"]
        + ["--variant", "defaults:", "--variant", "bucket0:BATCH_BUCKET_TOKENS=0"]
    )


def test_every_rep_of_every_variant_summarises_the_article(
    demo_models: dict[str, Path], tmp_path: Path
) -> None:
    rows: list[dict] = []
    summary.backend_rows("ctranslate2:int8", demo_models["summarize"], _args(tmp_path), rows)
    assert [row["variant"] for row in rows] == ["defaults", "bucket0"]
    for row in rows:
        assert row["chunks"] > 1 and row["rounds"] >= 1, row
        # Each rep reaches the model (a cached rep would bring the mean under one batch a rep).
        assert row["batches"] >= 1 and row["generated_tokens"] > 0, row
        assert row["ceiling_s_per_article"] > 0, row
    assert (tmp_path / "smoke.json").is_file()
