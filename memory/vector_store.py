"""The vector index behind a small protocol, with Chroma as the real backend.

SQLite is the source of truth; this index only holds ids and vectors (no
text, no metadata worth keeping) and can be rebuilt from SQLite at any time.
Each project has a collection of its own, and global facts another, so a
query for one project cannot physically reach another project's vectors.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from memory.embedding import Embedder

GLOBAL_COLLECTION = "dossier-global"


#: Ids per Chroma call: its SQLite backend refuses statements with too many variables.
ID_BATCH = 5_000
#: In the index folder: a token every writer replaces after it writes (see ChromaVectorStore).
WRITE_MARKER = "last-write"


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    return [list(ids[i : i + ID_BATCH]) for i in range(0, len(ids), ID_BATCH)]


def project_collection(project_id: int) -> str:
    return f"dossier-project-{project_id}"


class VectorStore(Protocol):
    """What the memory service needs from a vector index."""

    def upsert(self, collection: str, ids: Sequence[str], vectors: np.ndarray) -> None: ...

    def delete(self, collection: str, ids: Sequence[str]) -> None: ...

    def query(self, collection: str, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Returns up to ``k`` ``(id, cosine similarity)`` pairs, best first."""
        ...

    def vectors(self, collection: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of those ``ids`` that exist."""
        ...

    def ids(self, collection: str) -> set[str]: ...

    def count(self, collection: str) -> int: ...

    def collections(self) -> list[str]: ...

    def drop(self, collection: str) -> None: ...

    def close(self) -> None: ...


def chroma_embedding_function(embedder: Embedder) -> Any:
    """Wraps an :class:`Embedder` as a Chroma ``EmbeddingFunction``.

    Collections carry it so that text queries through Chroma's own API embed
    exactly as the service does.
    """
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

    class DossierEmbeddingFunction(EmbeddingFunction[Documents]):
        def __init__(self) -> None:
            self._embedder = embedder

        def __call__(self, input: Documents) -> Embeddings:
            return list(self._embedder.embed(list(input)))

        @staticmethod
        def name() -> str:
            return "dossier-minilm-int8"

        def get_config(self) -> dict[str, Any]:
            return {"model_id": self._embedder.model_id}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> DossierEmbeddingFunction:
            # Chroma rebuilds a collection's function from its stored config when
            # the collection is read; the embedder loads lazily, so this is cheap.
            from memory.embedding import MiniLMEmbedder

            return chroma_embedding_function(MiniLMEmbedder())  # type: ignore[no-any-return]

        def is_legacy(self) -> bool:
            return False

    return DossierEmbeddingFunction()


class ChromaVectorStore:
    """A Chroma ``PersistentClient`` in ``path``, telemetry off.

    Another process may write to the same index (the window and ``dossier mcp``
    or a CLI command, on one data folder). Chroma's client keeps the vector
    index it loaded and never sees those writes, so every write here replaces a
    token file in the folder, and a read that finds a token it did not write
    reopens the client first (one stat and a small read per query otherwise).

    Args:
        path: Folder of the index; created on first use if missing.
        embedder: Attached to each collection as its embedding function.
    """

    def __init__(self, path: Path, embedder: Embedder) -> None:
        self._path = path
        self._embedder = embedder
        self._client_instance: Any = None
        self._embedding_function: Any = None
        self._collections: dict[str, Any] = {}
        self._lock = threading.RLock()
        #: The write token as this store last knew it (its own, or one it caught up with).
        self._seen_token: str | None = None

    @property
    def _client(self) -> Any:
        # Made on first use: importing and starting Chroma takes about a second, and
        # opening a data dir to list projects should not wait for it.
        with self._lock:
            if self._client_instance is None:
                self._path.mkdir(parents=True, exist_ok=True, mode=0o700)
                self._seen_token = self._read_token()  # what this client will see
                import chromadb
                from chromadb.config import Settings

                try:
                    self._client_instance = chromadb.PersistentClient(
                        path=str(self._path),
                        settings=Settings(anonymized_telemetry=False, allow_reset=True),
                    )
                except Exception:
                    # Chroma caches a system per folder even when it failed to start, and
                    # would hand that broken one to the client that replaces this index.
                    from chromadb.api.shared_system_client import SharedSystemClient

                    getattr(SharedSystemClient, "_identifier_to_system", {}).pop(str(self._path), None)
                    raise
                self._embedding_function = chroma_embedding_function(self._embedder)
            return self._client_instance

    def _read_token(self) -> str | None:
        try:
            return (self._path / WRITE_MARKER).read_text("ascii")
        except (OSError, UnicodeDecodeError):
            return None

    def _wrote(self) -> None:
        token = uuid.uuid4().hex
        temporary = self._path / f".{WRITE_MARKER}.{os.getpid()}.{threading.get_ident()}"
        try:
            temporary.write_text(token, "ascii")
            os.replace(temporary, self._path / WRITE_MARKER)  # atomic: readers see one token or the next
        except OSError:
            return  # another process then reopens later, not never: its next own write replaces the token
        self._seen_token = token

    def _catch_up(self) -> None:
        """Reopens the client if another process wrote to the index since this one loaded it."""
        if self._client_instance is None:
            return
        token = self._read_token()
        if token == self._seen_token:
            return
        old = self._client_instance
        self._client_instance = None
        self._collections.clear()
        try:
            old.close()  # the last user of Chroma's shared system stops it, so the next client loads afresh
        except Exception:
            pass
        self._seen_token = token

    def _collection(self, name: str) -> Any:
        with self._lock:
            collection = self._collections.get(name)
            if collection is None:
                collection = self._client.get_or_create_collection(
                    name,
                    metadata={"hnsw:space": "cosine"},
                    embedding_function=self._embedding_function,
                )
                self._collections[name] = collection
            return collection

    def upsert(self, collection: str, ids: Sequence[str], vectors: np.ndarray) -> None:
        if not ids:
            return
        with self._lock:
            self._catch_up()
            self._collection(collection).upsert(ids=list(ids), embeddings=vectors)
            self._wrote()

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        if not ids:
            return
        with self._lock:
            self._catch_up()
            if collection in self.collections():
                target = self._collection(collection)
                for chunk in _chunks(ids):
                    target.delete(ids=chunk)
                self._wrote()

    def query(self, collection: str, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        with self._lock:
            self._catch_up()
            # Chroma returns fewer than k when the collection is smaller.
            result = self._collection(collection).query(
                query_embeddings=vector.reshape(1, -1), n_results=k, include=["distances"]
            )
        ids = result["ids"][0]
        distances = result["distances"][0]
        return [(id_, 1.0 - float(d)) for id_, d in zip(ids, distances, strict=True)]

    def vectors(self, collection: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        vectors: dict[str, np.ndarray] = {}
        with self._lock:
            self._catch_up()
            if collection not in self._collections and collection not in self.collections():
                return {}
            target = self._collection(collection)
            for chunk in _chunks(ids):
                found = target.get(ids=chunk, include=["embeddings"])
                for id_, vector in zip(found["ids"], found["embeddings"], strict=True):
                    vectors[id_] = np.asarray(vector, dtype=np.float32)
        return vectors

    def ids(self, collection: str) -> set[str]:
        with self._lock:
            if collection not in self.collections():
                return set()
            return set(self._collection(collection).get(include=[])["ids"])

    def count(self, collection: str) -> int:
        with self._lock:
            if collection not in self.collections():
                return 0
            return int(self._collection(collection).count())

    def collections(self) -> list[str]:
        with self._lock:
            return sorted(c if isinstance(c, str) else c.name for c in self._client.list_collections())

    def drop(self, collection: str) -> None:
        with self._lock:
            self._catch_up()
            self._collections.pop(collection, None)
            if collection in self.collections():
                self._client.delete_collection(collection)
                self._wrote()

    def close(self) -> None:
        with self._lock:
            self._collections.clear()
            if self._client_instance is None:
                return
            # Chroma keeps a process-wide client cache; clearing it releases file handles.
            try:
                self._client_instance.clear_system_cache()
            except Exception:
                pass
