"""``StudioMagics``: parse the line into its command's arguments, dispatch on the command's tag.

A user error prints one line on stderr (plus the usage line for bad arguments), never a
traceback, and the magic returns None.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from ..errors import StudioError
from ._chat import ChatHandlers, _PromptError, interpolate
from ._commands import StudioArgs, parse, parse_chat
from ._endpoints import EndpointHandlers
from ._library import LibraryHandlers
from ._parser import _HelpShown, _UsageError
from ._system import SystemHandlers
from ._training import TrainingHandlers
from ._video import VideoHandlers

log = logging.getLogger("model_studio.magics")


@magics_class
class StudioMagics(EndpointHandlers, LibraryHandlers, SystemHandlers, ChatHandlers, TrainingHandlers, VideoHandlers, Magics):
    """``%studio [COMMAND] ...`` and ``%%chat``: see the ``model_studio.magics`` docstring."""

    @line_magic
    def studio(self, line: str = "") -> Any:
        """The model studio: ``%studio`` (dashboard), ``models``, ``info``, ``pull``, ``rm``,
        ``jobs``, ``system``, ``du``, ``energy``, ``chat``, ``train``, ``runs``, ``video``, ``videos``, ``host``, ``endpoints``; ``%studio COMMAND --help``
        for each."""
        try:
            args = parse(line)
        except _HelpShown:
            return None
        except _UsageError as exc:
            print(f"UsageError: {exc}", file=sys.stderr)
            print(exc.usage, file=sys.stderr)
            return None
        try:
            return self.dispatch(args)
        except StudioError as exc:
            print(exc.one_line(), file=sys.stderr)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
        except Exception as exc:  # never a traceback for the user; the log keeps it
            log.debug("%%studio %s failed", line, exc_info=True)
            print(f"Error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return None

    def dispatch(self, args: StudioArgs) -> Any:
        """Run the handler of ``args``'s command."""
        match args.type:
            case "dashboard":
                return self.handle_dashboard(args)
            case "models":
                return self.handle_models(args)
            case "info":
                return self.handle_info(args)
            case "pull":
                return self.handle_pull(args)
            case "rm":
                return self.handle_rm(args)
            case "import":
                return self.handle_import(args)
            case "jobs":
                return self.handle_jobs(args)
            case "system":
                return self.handle_system(args)
            case "chat":
                return self.handle_chat(args)
            case "train":
                return self.handle_train(args)
            case "runs":
                return self.handle_runs(args)
            case "video":
                return self.handle_video(args)
            case "videos":
                return self.handle_videos(args)
            case "host":
                return self.handle_host(args)
            case "endpoints":
                return self.handle_endpoints(args)
            case "du":
                return self.handle_du(args)
            case "energy":
                return self.handle_energy(args)
        raise AssertionError(f"no handler for {args.type!r}")  # a command declared but not dispatched

    @cell_magic
    def chat(self, line: str = "", cell: str = "") -> Any:
        """``%%chat MODEL [--temperature T] [--max-tokens N] [--system TEXT] [--seed S] [--conversation NAME]``:
        the cell is the prompt (``{name}`` filled from the notebook); the answer streams into the output.
        With ``--conversation`` the saved conversation's branch is sent as the history, and the prompt and
        the answer are appended to it."""
        try:
            args = parse_chat(line)
        except _HelpShown:
            return None
        except _UsageError as exc:
            print(f"UsageError: {exc}", file=sys.stderr)
            print(exc.usage, file=sys.stderr)
            return None
        try:
            prompt = interpolate(cell.strip(), self.shell.user_ns if self.shell is not None else {})
        except _PromptError as exc:
            print(str(exc), file=sys.stderr)
            return None
        if not prompt:
            print("UsageError: the %%chat cell is empty: write the prompt below the %%chat line", file=sys.stderr)
            return None
        try:
            return self._chat(args, prompt)
        except StudioError as exc:
            print(exc.one_line(), file=sys.stderr)
        except Exception as exc:  # never a traceback for the user; the log keeps it
            log.debug("%%%%chat %s failed", line, exc_info=True)
            print(f"Error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
