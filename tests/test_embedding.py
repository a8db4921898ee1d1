from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from memory import ModelFileError
from memory.embedding import DIMENSION, MiniLMEmbedder, default_model_path


def test_vectors_are_normalised_and_sized(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.embed(["The invoice is due on Friday.", "Bonjour à tous 👋", "x"])
    assert vectors.shape == (3, DIMENSION)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_paraphrases_are_closer_than_unrelated_text(embedder: MiniLMEmbedder) -> None:
    query, paraphrase, unrelated = embedder.embed(
        [
            "How much money can we spend on the campaign?",
            "The marketing budget is capped at forty thousand euros.",
            "The office cat sleeps on the radiator all afternoon.",
        ]
    )
    assert float(query @ paraphrase) > float(query @ unrelated) + 0.2


def test_dynamic_padding_does_not_change_a_vector(embedder: MiniLMEmbedder) -> None:
    short = "Kick-off call with Acme on Monday."
    long = " ".join(["The steering committee reviewed every open risk in detail."] * 12)
    alone = embedder.embed([short])[0]
    batched = embedder.embed([long, short, "ok"])[1]
    np.testing.assert_allclose(alone, batched, atol=1e-4)


def test_empty_batch(embedder: MiniLMEmbedder) -> None:
    assert embedder.embed([]).shape == (0, DIMENSION)


def test_damaged_model_file_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "model.onnx"
    shutil.copy(default_model_path(), copy)
    with copy.open("r+b") as handle:
        handle.seek(1000)
        handle.write(b"\x00\x01\x02\x03")
    with pytest.raises(ModelFileError, match="damaged"):
        MiniLMEmbedder(model_path=copy).load()


def test_missing_tokenizer_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="missing"):
        MiniLMEmbedder(tokenizer_path=tmp_path / "nope.json").load()


def test_onnxruntime_telemetry_is_off_and_nothing_is_written_to_home(tmp_path: Path) -> None:
    # onnxruntime ships Microsoft telemetry that writes a device id under ~/.cache and can
    # send events over the network; Dossier switches it off before onnxruntime is imported.
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))
    probe = (
        "import os\n"
        "from memory.embedding import MiniLMEmbedder\n"
        "assert MiniLMEmbedder().embed(['hello']).shape == (1, 384)\n"
        "from memory.vector_store import ChromaVectorStore\n"
        "print(os.environ['ORT_DISABLE_TELEMETRY'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "1"
    assert sorted(p.name for p in home.rglob("*")) == []
