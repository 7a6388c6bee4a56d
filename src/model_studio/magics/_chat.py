"""``%studio chat MODEL`` (the playground) and the ``%%chat`` cell magic's streamed answer."""

from __future__ import annotations

import sys
import time
from typing import Any

from IPython.display import Markdown

from .._views import TextView
from ._base import Handlers
from ._commands import ChatArgs, ChatCellArgs


class _MissingName(KeyError):
    pass


class _PromptError(Exception):
    """A prompt that cannot be interpolated: its message is the one line shown."""


class _Names:
    """The user namespace for ``str.format_map``: a missing name raises ``_MissingName``."""

    def __init__(self, ns: dict[str, Any]) -> None:
        self.ns = ns

    def __getitem__(self, key: str) -> Any:
        try:
            return self.ns[key]
        except KeyError:
            raise _MissingName(key) from None


def interpolate(template: str, ns: dict[str, Any]) -> str:
    """``{name}`` (and ``{name.attr}``, ``{name[0]}``, ``{x:.2f}``) from ``ns``; ``{{`` is a brace."""
    try:
        return template.format_map(_Names(ns))
    except _MissingName as exc:
        raise _PromptError(f"NameError: {exc.args[0]!r} is not defined (used as {{{exc.args[0]}}} in the "
                           "%%chat prompt)") from None
    except (ValueError, IndexError, AttributeError, KeyError, TypeError) as exc:
        raise _PromptError(f"PromptError: cannot fill the %%chat prompt: {exc} "
                           "(write {{ and }} for literal braces)") from None


def _stats_line(stats: dict[str, Any]) -> str:
    parts = [f"{stats.get('completion_tokens', 0)} tokens"]
    if stats.get("tokens_per_second"):
        parts.append(f"{stats['tokens_per_second']:.1f} tok/s")
    if stats.get("ttft") is not None:
        parts.append(f"TTFT {stats['ttft']:.2f} s")
    if stats.get("finish_reason") not in (None, "stop"):
        parts.append(str(stats["finish_reason"]))
    return " · ".join(parts)


class ChatAnswer(str):
    """The text of a ``%%chat`` answer (a ``str``), with ``stats`` and ``model`` attached.

    Its repr is the text itself. Once streamed into the cell output it does not display again.
    """

    model: str = ""
    stats: dict[str, Any]
    finish_reason: str | None = None
    #: The saved conversation the prompt and answer were appended to (``--conversation``).
    conversation_id: str | None = None
    _shown: bool = False

    def __repr__(self) -> str:
        return str(self)

    def _ipython_display_(self) -> None:
        if not self._shown:
            print(str(self))


class ChatHandlers(Handlers):
    def handle_chat(self, args: ChatArgs) -> Any:
        if self.notebook:
            from ..widgets import ChatPlayground

            return ChatPlayground(model=args.model, conversation=args.conversation or "")
        return TextView(f"The chat playground is a widget: run `%studio chat {args.model}` in JupyterLab or "
                        f"Notebook, or use the %%chat cell magic:\n%%chat {args.model}\nYour question")

    def _chat(self, args: ChatCellArgs, prompt: str) -> ChatAnswer:
        """Stream the answer to ``prompt``: live Markdown in a notebook, printed text elsewhere;
        Ctrl-C stops the generation and keeps what came."""
        import threading

        from ..widgets.chat import open_stream

        eng = self._engine()
        conversation = open_conversation(eng, args) if args.conversation else None
        messages = history_of(conversation, args.system) + [{"role": "user", "content": prompt}]
        sampling = {k: v for k, v in (("temperature", args.temperature), ("max_tokens", args.max_tokens),
                                      ("seed", args.seed)) if v is not None}
        stop = threading.Event()
        notebook = self.notebook
        handle = None
        if notebook:
            handle = self.show(Markdown("*…*"), display_id=True)
        parts: list[str] = []
        tokens, finish_reason, first = 0, None, None
        started = time.monotonic()
        last_update = 0.0
        iterator = open_stream(eng.chat, args.model, messages, stop, sampling)
        interrupted = False
        try:
            for chunk in iterator:
                if chunk.text:
                    if first is None:
                        first = time.monotonic() - started
                    parts.append(chunk.text)
                    if not notebook:
                        print(chunk.text, end="", flush=True)
                tokens += int(getattr(chunk, "tokens", 1) or 0)
                finish_reason = getattr(chunk, "finish_reason", None) or finish_reason
                if handle is not None and time.monotonic() - last_update > 0.1:
                    handle.update(Markdown("".join(parts) + " ▌"))
                    last_update = time.monotonic()
        except KeyboardInterrupt:
            stop.set()
            interrupted = True
            finish_reason = "cancelled"
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
        total = time.monotonic() - started
        gen = total - (first or 0.0)
        text = "".join(parts)
        stats = {"completion_tokens": tokens, "ttft": first, "total_time": total,
                 "tokens_per_second": tokens / gen if gen > 0 and tokens else None,
                 "finish_reason": finish_reason or "stop"}
        engine_stats = getattr(iterator, "stats", None)
        if engine_stats is not None and hasattr(engine_stats, "to_dict"):
            stats.update({k: v for k, v in engine_stats.to_dict().items() if v is not None})
        line = _stats_line(stats)
        if handle is not None:
            handle.update(Markdown((text or "*(empty answer)*") + f"\n\n*{line}*"))
        else:
            print(("\n" if parts else "") + f"[{line}]", flush=True)
        if interrupted:
            print("interrupted: the answer was stopped", file=sys.stderr)
        answer = ChatAnswer(text)
        answer.model, answer.stats, answer.finish_reason = args.model, stats, stats["finish_reason"]
        answer._shown = True
        if conversation is not None:
            # the prompt and its answer in one transaction, after the branch the history came from
            saved = eng.conversations.append(conversation["id"], [
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": text, "model": args.model, "stats": stats}],
                parent_id=conversation["heads"][0] if conversation["heads"] else None)
            answer.conversation_id = saved["conversation_id"]
        return answer


def open_conversation(eng: Any, args: ChatCellArgs) -> dict[str, Any]:
    """The conversation ``args.conversation`` names (an id or a title), created (titled so) if missing."""
    store = eng.conversations
    conv = store.find(args.conversation)
    if conv is None:
        conv = store.create(title=args.conversation, models=[args.model], system_prompt=args.system or "")
    elif not conv["models"]:
        conv = store.update(conv["id"], models=[args.model])
    return conv


def history_of(conversation: dict[str, Any] | None, system: str | None) -> list[dict[str, str]]:
    """The messages sent before the prompt: the system prompt (the cell's, else the conversation's) and
    the conversation's branch."""
    system = system or (conversation or {}).get("system_prompt") or ""
    out = [{"role": "system", "content": system}] if system else []
    if conversation is not None:
        out += [{"role": m["role"], "content": m["content"]} for m in conversation["lanes"][0]["messages"]
                if m["role"] in ("user", "assistant")]
    return out
