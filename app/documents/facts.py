"""Facts proposed from a project document, into the review inbox with their page.

A document holds many sentences worth knowing and many that are boilerplate;
nothing read from it becomes "known" without the user's review. The cue step
(dates, amounts, contacts, decisions, obligations) works with any model; an
instruction-tuned model adds what the cues missed, with JSON-constrained output
grounded in the passage, as for chat extraction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from app.assistant.candidates import Candidate, find_candidates
from app.assistant.extraction import EXTRACTION_SCHEMA, MemoryExtractor, Outcome, learning_note
from app.assistant.text import holds_secret, normalise
from app.llm import prompts
from app.llm.engine import EngineError, GenerationSettings
from app.llm.prompt_format import ChatTurn
from memory import DocumentChunk

log = logging.getLogger(__name__)

#: Proposals from one document at most: an inbox of two hundred clauses is not reviewed.
MAX_DOCUMENT_PROPOSALS = 25
#: Cue candidates taken from one passage.
PER_PASSAGE = 3
#: A model's candidate ranks as a sentence with this many cue points (a strong one).
MODEL_SCORE = 6


@dataclass
class DocumentLearning:
    outcomes: list[Outcome] = field(default_factory=list)
    #: Why the model step did not run or stopped, if it did not add its part.
    model_note: str = ""
    cancelled: bool = False

    def summary(self) -> str:
        note = learning_note(self.outcomes)
        if self.model_note:
            note += f"; {self.model_note}"
        return note + ("; cancelled before the end" if self.cancelled else "")


def _from_model(extractor: MemoryExtractor, title: str, chunk: DocumentChunk) -> list[Candidate]:
    assert extractor.model is not None
    turns = [
        ChatTurn("system", prompts.DOCUMENT_EXTRACTION),
        ChatTurn(
            "user",
            prompts.DOCUMENT_EXTRACTION_INPUT.format(title=title, location=chunk.location, passage=chunk.text),
        ),
    ]
    settings = GenerationSettings(
        max_tokens=300, temperature=0.0, json_schema=EXTRACTION_SCHEMA, seed=0, background=True
    )
    raw = extractor.model.generate(turns, settings).result()
    return MemoryExtractor.parse_candidates(raw, chunk.text)


def propose_from_document(
    extractor: MemoryExtractor,
    document_id: int,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    limit: int = MAX_DOCUMENT_PROPOSALS,
) -> DocumentLearning:
    """Reads a document passage by passage and files what is worth remembering in the inbox.

    Each proposal names the document and page (or section) it was read from;
    facts already known or already waiting in the inbox are not proposed again.
    """
    service = extractor.service
    document = service.get_document(document_id)
    chunks = service.document_chunks(document_id)
    model = extractor.model if extractor.use_model else None
    learning = DocumentLearning()
    if model is None:
        learning.model_note = "read by cues only (no model for background work)"
    elif model.is_base_model:
        model, learning.model_note = None, "read by cues only (the model is not instruction-tuned)"
    # Read first, then file the best: a long contract's proposals come from its
    # strongest sentences wherever they are, not from its first pages.
    read: list[tuple[int, int, DocumentChunk, Candidate]] = []
    for n, chunk in enumerate(chunks):
        if cancelled is not None and cancelled():
            learning.cancelled = True
            break
        if progress is not None:
            progress(n, len(chunks))
        if holds_secret(chunk.text):
            # A passage about passwords or keys (a table of logins under a "Password" header)
            # proposes nothing: its other lines may be the secrets themselves.
            continue
        candidates = find_candidates(chunk.text, None, about_anyone=True, limit=PER_PASSAGE)
        if model is not None:
            try:
                # The model chose these as worth keeping: they rank with the strongest cues.
                candidates += [replace(c, score=MODEL_SCORE) for c in _from_model(extractor, document.title, chunk)]
            except EngineError as error:
                log.warning("document extraction by the model stopped: %s", error)
                model, learning.model_note = None, f"the model step stopped: {error}"
        read += [(-candidate.score, len(read) + i, chunk, candidate) for i, candidate in enumerate(candidates)]
    # The title and the headings name the document's parts; they are not facts of the client's.
    seen: set[str] = {normalise(document.title)} | {
        normalise(part) for chunk in chunks for part in chunk.heading_path.split(" › ") if part
    }
    filed = 0
    for _rank, _order, chunk, candidate in sorted(read, key=lambda item: item[:2]):
        key = normalise(candidate.text)
        if key in seen:
            continue
        seen.add(key)
        outcome = extractor.apply(
            document.project_id,
            candidate,
            None,
            source_document=(document.id, chunk.location),
            origin=f"Read in {document.title}, {chunk.location}",
        )
        learning.outcomes.append(outcome)
        filed += outcome.proposal is not None
        if filed >= limit:
            break
    if progress is not None and not learning.cancelled:
        progress(len(chunks), len(chunks))
    return learning
