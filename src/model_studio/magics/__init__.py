"""``%studio``: the studio from any IPython front end.

``%load_ext model_studio`` registers the line magic::

    %studio                                         the dashboard (Studio widget)
    %studio models [--local] [--search TEXT] [--task T] [--limit N]
    %studio info REPO
    %studio pull REPO [--quant Q] [--revision REV]
    %studio rm REPO [--yes]
    %studio jobs [--active] [--limit N]
    %studio system
    %studio chat MODEL                              the chat playground (ChatPlayground widget)
    %studio train --model M --data FILE [--steps N] [--lr X] [--rank R] [--num-processes N] [--devices D]
                  [--strategy ddp|fsdp|deepspeed] [--export DIR [--nnodes N] [--node-rank R]
                  [--master-addr HOST] [--master-port PORT]]
                                                    LoRA fine-tune (TrainingMonitor widget)
    %studio runs [--limit N]                        training runs, newest first
    %studio video "PROMPT" --model M [--frames N] [--width W] [--height H] [--steps S] [--guidance G]
                  [--seed S] [--fps F] [--negative TEXT] [--image PATH] [--last-image PATH] [--lora PATH]
                  [--lora-scale X]
                  [--offload auto|none|model|sequential|cpu] [--device auto|cuda:N|cpu] [--download]
                                                    generate a video: progress, then the video inline
    %studio videos [--limit N]                      past generations, newest first

and the cell magic ``%%chat MODEL [--temperature T] [--max-tokens N] [--system TEXT] [--seed S]``,
whose body is the prompt (``{name}`` is filled from the notebook's variables); it streams the answer
into the cell output and returns it (a ``str``), so the next cell can use ``_``.

Each command is declared once, as a pydantic model in ``_commands`` (its fields are its arguments;
``_parser`` builds argparse from them); the magic parses a line into that model and dispatches on
its ``type`` tag to one ``handle_<command>`` method (``_library``, ``_system``, ``_chat``,
``_training``, ``_video``), which calls the engine and returns something with
``_repr_mimebundle_`` (an HTML table in a notebook, text in a terminal) or a widget. In a notebook
front end (an ipykernel ``ZMQInteractiveShell``) ``pull``, ``system`` and the dashboard show
widgets; elsewhere they fall back to text and a tqdm bar. A user error prints one line on stderr
(plus the usage line for bad arguments), never a traceback, and the magic returns None.
"""

from __future__ import annotations

from typing import Any

from ._base import in_notebook
from ._chat import ChatAnswer, interpolate
from ._commands import (
    COMMANDS,
    ChatArgs,
    ChatCellArgs,
    DashboardArgs,
    HostArgs,
    InfoArgs,
    JobsArgs,
    ModelsArgs,
    PullArgs,
    RmArgs,
    RunsArgs,
    StudioArgs,
    SystemArgs,
    TrainArgs,
    VideoArgs,
    VideosArgs,
    build_chat_parser,
    build_parser,
    parse,
    parse_chat,
)
from ._magic import StudioMagics

__all__ = [
    "COMMANDS", "ChatAnswer", "ChatArgs", "ChatCellArgs", "DashboardArgs", "HostArgs", "InfoArgs", "JobsArgs", "ModelsArgs",
    "PullArgs", "RmArgs", "RunsArgs", "StudioArgs", "StudioMagics", "SystemArgs", "TrainArgs", "VideoArgs",
    "VideosArgs", "build_chat_parser", "build_parser", "in_notebook", "interpolate", "load_ipython_extension",
    "parse", "parse_chat", "unload_ipython_extension",
]


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magics(StudioMagics)


def unload_ipython_extension(ipython: Any) -> None:
    ipython.magics_manager.magics["line"].pop("studio", None)
    ipython.magics_manager.magics["cell"].pop("chat", None)
    ipython.magics_manager.registry.pop("StudioMagics", None)
