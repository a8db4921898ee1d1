"""Any OpenAI-compatible chat endpoint (Ollama, LM Studio, vLLM, llama.cpp's server, OpenAI).

Only used when the user configures one. The API key is fetched from the
keyring for each request and lives nowhere else.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from app.llm.engine import CancelToken, EngineError, Generation, GenerationSettings
from app.llm.prompt_format import ChatTurn, user_content
from memory import EstimatedTokenCounter

log = logging.getLogger(__name__)

#: Tokens a chat message costs beyond its text (role markers), by OpenAI's rule of thumb.
_PER_MESSAGE_TOKENS = 4


class RemoteError(EngineError):
    """The endpoint is unreachable or answered with an error."""


def normalise_base_url(url: str) -> str:
    """``http://host:port`` or ``.../v1`` → the ``.../v1`` base the API lives under."""
    parsed = urllib.parse.urlparse(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise RemoteError(f"Not an endpoint address: {url!r} (expected http://host:port/v1)")
    if parsed.username is not None or parsed.password is not None:
        # Settings, backups and `model list` would show it: a key belongs in the keyring.
        raise RemoteError(
            "The endpoint address holds a user name or key (user:KEY@host). Give the address without it, and "
            "the key with --api-key-stdin (command line) or in the API key field (Settings); it goes to the keyring."
        )
    path = parsed.path.rstrip("/")
    if not path.endswith("/v1"):
        path += "/v1"
    return urllib.parse.urlunparse(parsed._replace(path=path, params="", query="", fragment=""))


class RemoteModel:
    """A chat model served over the OpenAI chat-completions API.

    Args:
        base_url: The endpoint, e.g. ``http://127.0.0.1:11434/v1``.
        model: The model name the endpoint expects.
        api_key: Called for each request; returns the key or None (from the keyring).
        context_length: The window the user says the model has (not discoverable
            through the API); token counts are estimates.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: Callable[[], str | None] = lambda: None,
        context_length: int = 8192,
        timeout: float = 60.0,
    ) -> None:
        self.base_url = normalise_base_url(base_url)
        self.model = model
        self._api_key = api_key
        self._context_length = context_length
        self._timeout = timeout
        self._counter = EstimatedTokenCounter()
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._response_format_style = "json_schema"

    @property
    def name(self) -> str:
        host = urllib.parse.urlparse(self.base_url).netloc
        return f"{self.model} @ {host}"

    @property
    def context_length(self) -> int:
        return self._context_length

    @property
    def is_base_model(self) -> bool:
        return False

    @property
    def leaves_the_machine(self) -> bool:
        # Even on 127.0.0.1 it may relay elsewhere: what is sent is treated as leaving.
        return True

    def count_tokens(self, text: str) -> int:
        return self._counter.count(text)

    def count_prompt(self, turns: Sequence[ChatTurn]) -> int:
        return sum(self.count_tokens(m["content"]) + _PER_MESSAGE_TOKENS for m in _messages(turns)) + 3

    def _request(self, path: str, body: dict[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = self._api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers)
        try:
            return urllib.request.urlopen(request, timeout=timeout or self._timeout)
        except urllib.error.HTTPError as err:
            detail = _error_detail(err)
            if err.code in (401, 403):
                raise RemoteError(f"The endpoint refused the API key (HTTP {err.code}){detail}") from None
            raise RemoteError(f"The endpoint answered HTTP {err.code}{detail}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
            reason = getattr(err, "reason", err)
            raise RemoteError(f"Cannot reach {self.base_url}: {reason}") from None

    def list_models(self) -> list[str]:
        """The model names the endpoint offers (also a cheap "is it up?" check)."""
        with self._request("/models", timeout=10) as response:
            payload = json.loads(response.read().decode("utf-8"))
        return [str(m.get("id")) for m in payload.get("data", []) if isinstance(m, dict)]

    def generate(
        self, turns: Sequence[ChatTurn], settings: GenerationSettings, cancel: CancelToken | None = None
    ) -> Generation:
        generation = Generation(cancel)
        body: dict[str, Any] = {
            "model": self.model,
            "messages": _messages(turns),
            "max_tokens": settings.max_tokens,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "stream": True,
        }
        if settings.seed is not None:
            body["seed"] = settings.seed
        thread = threading.Thread(
            target=self._run, args=(body, settings.json_schema, generation), name="dossier-remote", daemon=True
        )
        with self._lock:
            self._threads.add(thread)
        thread.start()
        return generation

    def _run(self, body: dict[str, Any], schema: dict[str, Any] | None, generation: Generation) -> None:
        stats = generation.stats
        started = time.perf_counter()
        produced: list[str] = []
        try:
            response = self._open_stream(body, schema)
            with response:
                finish = "stop"
                for raw in response:
                    if generation.cancel_token.cancelled:
                        finish = "cancel"
                        break
                    line = raw.decode("utf-8", errors="replace").strip()
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    chunk = json.loads(data)
                    if "error" in chunk:
                        raise RemoteError(f"The endpoint reported an error: {chunk['error']}")
                    for choice in chunk.get("choices", []):
                        piece = (choice.get("delta") or {}).get("content") or ""
                        if piece:
                            if stats.time_to_first_token is None:
                                stats.time_to_first_token = time.perf_counter() - started
                            stats.completion_tokens += 1
                            produced.append(piece)
                            generation.emit(piece)
                        if choice.get("finish_reason"):
                            finish = choice["finish_reason"]
                    usage = chunk.get("usage") or {}
                    stats.prompt_tokens = usage.get("prompt_tokens", stats.prompt_tokens)
            stats.finish_reason = finish
            stats.seconds = time.perf_counter() - started
            generation.finish("".join(produced).strip())
        except EngineError as err:
            generation.fail(err)
        except (OSError, ValueError) as err:
            generation.fail(RemoteError(f"The connection to {self.base_url} failed: {err}"))
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _open_stream(self, body: dict[str, Any], schema: dict[str, Any] | None) -> Any:
        if schema is None:
            return self._request("/chat/completions", body)
        # OpenAI takes "json_schema"; llama.cpp's Python server takes "json_object" with a schema.
        styles = [self._response_format_style] + [
            s for s in ("json_schema", "json_object") if s != self._response_format_style
        ]
        last: RemoteError | None = None
        for style in styles:
            if style == "json_schema":
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": "output", "schema": schema, "strict": True},
                }
            else:
                body["response_format"] = {"type": "json_object", "schema": schema}
            try:
                response = self._request("/chat/completions", body)
                self._response_format_style = style
                return response
            except RemoteError as err:
                message = str(err)
                # llama-cpp-python's server answers 500 to a response_format it does not know.
                unsupported = "HTTP 4" in message or "response_format" in message
                if not unsupported or "API key" in message:
                    raise
                last = err
        assert last is not None
        raise last

    def close(self) -> None:
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=self._timeout)


def _messages(turns: Sequence[ChatTurn]) -> list[dict[str, str]]:
    return [{"role": t.role, "content": user_content(t) if t.role == "user" else t.content} for t in turns]


def _error_detail(err: urllib.error.HTTPError) -> str:
    try:
        payload = json.loads(err.read().decode("utf-8", errors="replace") or "{}")
    except ValueError:
        return ""
    message = payload.get("error", payload.get("detail", "")) if isinstance(payload, dict) else ""
    if isinstance(message, dict):
        message = message.get("message", "")
    return f": {str(message)[:300]}" if message else ""
