"""Better models than the bundled one: a short curated catalogue, and chat servers already running here.

The bundled model is a tiny base model so that Dossier works offline out of
the box. For real work a user wants an instruction-tuned model: either a GGUF
file from the catalogue (downloaded with the resumable downloader and checked
against its sha256), or a model already served on this machine by Ollama or
LM Studio, used through their OpenAI-compatible endpoint.

Catalogue entries are pinned: the link, the byte count and the sha256 of the
file as published by its maker. Only entries whose checksum could be confirmed
from more than one independent record are listed; more are added the same way.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass

#: Besides the file itself: the context's key-value cache at 4,096 tokens, the
#: runtime, and the rest of Dossier (embedding model, Qt), measured on 2-core machines.
RUNTIME_OVERHEAD_BYTES = 900 * 1024 * 1024


@dataclass(frozen=True)
class CatalogueModel:
    id: str
    name: str
    file_name: str
    url: str
    sha256: str
    size_bytes: int
    licence: str
    #: Whether the licence allows paid client work.
    commercial_use: bool
    good_for: str

    @property
    def ram_bytes(self) -> int:
        """Memory it needs to run, with Dossier around it."""
        return self.size_bytes + RUNTIME_OVERHEAD_BYTES

    def fits(self, memory_bytes: int | None) -> bool | None:
        """Whether it fits in ``memory_bytes`` of RAM (None when that is unknown)."""
        return None if memory_bytes is None else self.ram_bytes <= memory_bytes


CATALOGUE: tuple[CatalogueModel, ...] = (
    CatalogueModel(
        id="qwen2.5-1.5b-instruct",
        name="Qwen2.5 1.5B Instruct (Q4_K_M)",
        file_name="qwen2.5-1.5b-instruct-q4_k_m.gguf",
        url=(
            "https://huggingface.co/Qwen/Qwen2.5-1.5B-Instruct-GGUF/resolve/"
            "91cad51170dc346986eccefdc2dd33a9da36ead9/qwen2.5-1.5b-instruct-q4_k_m.gguf"
        ),
        sha256="6a1a2eb6d15622bf3c96857206351ba97e1af16c30d7a74ee38970e434e9407e",
        size_bytes=1_117_320_736,
        licence="Apache-2.0",
        commercial_use=True,
        good_for="Everyday client work on a laptop: follows instructions, summaries, drafts, "
        "extracting facts; many languages. Fast on 2 cores.",
    ),
    CatalogueModel(
        id="qwen2.5-3b-instruct",
        name="Qwen2.5 3B Instruct (Q4_K_M)",
        file_name="qwen2.5-3b-instruct-q4_k_m.gguf",
        url="https://huggingface.co/Qwen/Qwen2.5-3B-Instruct-GGUF/resolve/main/qwen2.5-3b-instruct-q4_k_m.gguf",
        sha256="626b4a6678b86442240e33df819e00132d3ba7dddfe1cdc4fbb18e0a9615c62d",
        size_bytes=2_104_932_768,
        licence="Qwen Research License (non-commercial use only)",
        commercial_use=False,
        good_for="Better answers and longer drafts than the 1.5B, at half its speed. "
        "Its licence does not allow paid client work: for trying out, not for billable work.",
    ),
)


def find(model_id: str) -> CatalogueModel | None:
    return next((m for m in CATALOGUE if m.id == model_id), None)


def machine_memory() -> int | None:
    """This machine's physical memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


# ---------------------------------------------------------------- local servers


@dataclass(frozen=True)
class LocalServer:
    name: str
    #: The OpenAI-compatible endpoint to put in Settings (``…/v1``).
    base_url: str
    models: tuple[str, ...]


#: Their default loopback ports; only this machine is asked, and only when the user looks.
KNOWN_SERVERS = (("Ollama", 11434), ("LM Studio", 1234))


def find_local_servers(
    servers: tuple[tuple[str, int], ...] = KNOWN_SERVERS, host: str = "127.0.0.1", timeout: float = 0.5
) -> list[LocalServer]:
    """Chat servers answering on this machine's loopback, with the models they offer.

    Asks each OpenAI-compatible ``/v1/models`` (Ollama and LM Studio both have
    it); a port that does not answer, or answers with something else, is left out.
    """
    found = []
    for name, port in servers:
        base_url = f"http://{host}:{port}/v1"
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=timeout) as response:
                payload = json.loads(response.read(1_000_000))
        except (urllib.error.URLError, OSError, ValueError):
            continue
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            continue
        models = tuple(str(m["id"]) for m in data if isinstance(m, dict) and isinstance(m.get("id"), str))
        found.append(LocalServer(name, base_url, models))
    return found


__all__ = ["CATALOGUE", "CatalogueModel", "LocalServer", "find", "find_local_servers", "machine_memory"]
