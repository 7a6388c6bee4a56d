"""Every ``%studio`` command and the ``%%chat`` line, each declared once (see ``_parser``)."""

from __future__ import annotations

from typing import Literal

from ..core.library import TASKS
from ._parser import Command, _Parser, add_arguments, option, parse_line, positional, subcommand_parser

Offload = Literal["auto", "none", "model", "sequential", "cpu"]


class DashboardArgs(Command):
    """the studio dashboard (no command)"""

    type: Literal["dashboard"] = "dashboard"


class ModelsArgs(Command):
    """search the catalog, the Hub and local models"""

    type: Literal["models"] = "models"
    local: bool = option(False, help="only models on this machine")
    search: str = option("", metavar="TEXT", help="search text")
    task: Literal[TASKS] | None = None  # type: ignore[valid-type]
    limit: int = option(20, metavar="N", ge=1)


class InfoArgs(Command):
    """files, quantizations and fit of one model"""

    type: Literal["info"] = "info"
    model: str = positional(metavar="REPO")


class PullArgs(Command):
    """download a model, showing its progress"""

    type: Literal["pull"] = "pull"
    model: str = positional(metavar="REPO", help="org/name[@revision][:QUANT]")
    quant: str | None = option(None, metavar="Q", help="GGUF quantization, e.g. Q4_K_M")
    revision: str | None = option(None, metavar="REV", help="branch, tag or commit")


class RmArgs(Command):
    """delete a model from the cache"""

    type: Literal["rm"] = "rm"
    model: str = positional(metavar="REPO")
    yes: bool = option(False, short="-y", help="delete without asking")


class ImportArgs(Command):
    """import a GGUF file or safetensors folder by path (in place), or a .gguf by HTTPS URL"""

    type: Literal["import"] = "import"
    source: str = positional(metavar="PATH_OR_URL", help="a .gguf file, a model folder, or an https:// URL")
    name: str | None = option(None, metavar="NAME", help="the model's name (local/NAME)")
    # not ``copy``: a pydantic model's field may not shadow BaseModel.copy; the flag is --copy all the same
    copy_file: bool = option(False, short="--copy", help="copy the file into the studio's models folder")
    sha256: str | None = option(None, metavar="HEX", help="URL imports: the file's sha256 to verify")


class JobsArgs(Command):
    """jobs of every kind (downloads, batches, training runs, video generations), newest first"""

    type: Literal["jobs"] = "jobs"
    active: bool = option(False, help="only queued and running jobs")
    kind: Literal["download", "batch", "train", "video"] | None = option(None, metavar="KIND",
                                                                          help="download, batch, train or video")
    limit: int = option(20, metavar="N", ge=1)


class SystemArgs(Command):
    """CPU, RAM, disks and GPUs"""

    type: Literal["system"] = "system"
    versions: bool = option(False, help="OS, Python, CUDA, cuDNN, the NVIDIA driver, llama.cpp, library versions")


class ChatArgs(Command):
    """the chat playground for one model"""

    type: Literal["chat"] = "chat"
    model: str = positional(metavar="MODEL", help="org/name[:QUANT] or local/<name>")
    conversation: str | None = option(None, metavar="NAME", help="open a saved conversation (id or title)")


class TrainArgs(Command):
    """LoRA fine-tune a model on a data file, showing its progress"""

    type: Literal["train"] = "train"
    model: str = option(metavar="MODEL", help="the base: org/name or local/<name>")
    data: str = option(metavar="FILE", help="a JSONL, CSV or Parquet file")
    steps: int | None = option(None, metavar="N", help="optimizer steps", ge=1)
    lr: float | None = option(None, metavar="X", help="learning rate", gt=0)
    rank: int | None = option(None, metavar="R", help="LoRA rank", ge=1)
    num_processes: int | None = option(None, metavar="N", ge=1,
                                       help="processes (one per GPU); more than one runs under torchrun")
    devices: str | None = option(None, metavar="D", help="cpu, all, a GPU index or indices (0,1)")
    strategy: Literal["ddp", "fsdp", "deepspeed"] | None = None
    export: str | None = option(None, metavar="DIR",
                                help="write the run as a bundle for a cluster (torchrun, SLURM) into DIR instead")
    nnodes: int = option(1, metavar="N", ge=1, help="with --export: nodes")
    node_rank: int = option(0, metavar="R", help="with --export: this node's rank")
    master_addr: str = option("127.0.0.1", metavar="HOST", help="with --export: node 0's address")
    master_port: int = option(29500, metavar="PORT", help="with --export: the rendezvous port")


class RunsArgs(Command):
    """training runs, newest first"""

    type: Literal["runs"] = "runs"
    limit: int = option(20, metavar="N", ge=1)


class VideoArgs(Command):
    """generate a video from a prompt (and an image), showing progress, then the video"""

    type: Literal["video"] = "video"
    prompt: str = positional(metavar="PROMPT", help="what the video shows (quote it)")
    model: str = option(metavar="MODEL", help="a diffusers video model: org/name")
    frames: int | None = option(None, metavar="N", help="number of frames (e.g. 4k+1 for Wan)", ge=1)
    width: int | None = option(None, metavar="W", ge=1)
    height: int | None = option(None, metavar="H", ge=1)
    steps: int | None = option(None, metavar="S", help="denoising steps", ge=1)
    guidance: float | None = option(None, metavar="G", help="classifier-free guidance scale")
    seed: int | None = option(None, metavar="S", help="default: random (saved with the video)")
    fps: int | None = option(None, metavar="F", ge=1)
    negative: str = option("", metavar="TEXT", help="negative prompt")
    image: str | None = option(None, metavar="PATH", help="input image (image-to-video)")
    last_image: str | None = option(None, metavar="PATH", help="last frame (first-last-frame models, with --image)")
    lora: str | None = option(None, metavar="PATH", help="LoRA weights (.safetensors)")
    lora_scale: float = option(1.0, metavar="X")
    offload: Offload = "auto"
    device: str = option("auto", metavar="DEVICE",
                         help="auto (the GPU with the most free memory; may split across GPUs), cuda:N or cpu")
    download: bool = option(False, help="download the model first when it is not local")


class VideosArgs(Command):
    """past video generations, newest first"""

    type: Literal["videos"] = "videos"
    limit: int = option(20, metavar="N", ge=1)


class HostArgs(Command):
    """the model host: status (default), stop or logs"""

    type: Literal["host"] = "host"
    action: Literal["status", "stop", "logs"] = positional("status", metavar="ACTION", help="status, stop or logs")
    lines: int = option(50, metavar="N", ge=1, help="log lines (logs)")


class EndpointsArgs(Command):
    """remote serving endpoints: list (default, with health), add, update, test or rm"""

    type: Literal["endpoints"] = "endpoints"
    action: Literal["list", "add", "update", "test", "rm"] = positional(
        "list", metavar="ACTION", help="list, add, update, test or rm")
    name: str | None = positional(None, metavar="NAME", help="the endpoint's name")
    url: str | None = positional(None, metavar="URL", help="its OpenAI base URL, e.g. http://gpu:8000/v1 (add)")
    key_env: str | None = option(None, metavar="VAR", help="read the API key from this environment variable")
    ask_key: bool = option(False, help="ask for the API key (not echoed, never in the notebook)")
    timeout: float | None = option(None, metavar="S", help="seconds without an answer", gt=0)
    concurrency: int | None = option(None, metavar="N", help="requests a batch sends at once", ge=1)



class DuArgs(Command):
    """disk use per model store, duplicates across stores, what could be freed"""

    type: Literal["du"] = "du"
    no_duplicates: bool = option(False, help="do not hash files to find copies")
    free: Literal["duplicate", "partial_downloads", "job_leftovers", "old_videos"] | None = option(
        None, metavar="WHAT", help="delete what the studio owns: duplicate (with --path), partial_downloads, "
        "job_leftovers or old_videos")
    path: str | None = option(None, metavar="PATH", help="with --free duplicate: the copy to delete")


class EnergyArgs(Command):
    """energy (Wh) and carbon (gCO2e) of jobs and chat answers over a period"""

    type: Literal["energy"] = "energy"
    since: str | None = option(None, metavar="YYYY-MM-DD", help="first UTC day")
    until: str | None = option(None, metavar="YYYY-MM-DD", help="last UTC day")



StudioArgs = (DashboardArgs | ModelsArgs | InfoArgs | PullArgs | RmArgs | ImportArgs | JobsArgs | SystemArgs | ChatArgs
              | TrainArgs | RunsArgs | VideoArgs | VideosArgs | HostArgs | EndpointsArgs | DuArgs | EnergyArgs)
COMMANDS = (ModelsArgs, InfoArgs, PullArgs, RmArgs, ImportArgs, JobsArgs, SystemArgs, ChatArgs, TrainArgs, RunsArgs,
            VideoArgs, VideosArgs, HostArgs, EndpointsArgs, DuArgs, EnergyArgs)


class ChatCellArgs(Command):
    """Stream a model's answer to the cell's prompt."""

    model: str = positional(metavar="MODEL", help="org/name[:QUANT], local/<name> or remote/<endpoint>/<model>")
    temperature: float | None = option(None, metavar="T")
    max_tokens: int | None = option(None, metavar="N", ge=1)
    system: str | None = option(None, metavar="TEXT", help="the system prompt")
    seed: int | None = option(None, metavar="S")
    conversation: str | None = option(None, metavar="NAME",
                                      help="continue a saved conversation (id or title; created if missing)")


def build_parser() -> _Parser:
    return subcommand_parser("%studio", "The model studio: models, downloads, system.", COMMANDS,
                             default=DashboardArgs)


def build_chat_parser() -> _Parser:
    parser = _Parser(prog="%%chat", description=ChatCellArgs.__doc__)
    add_arguments(parser, ChatCellArgs)
    return parser


def parse(line: str) -> StudioArgs:
    """``line`` (after ``%studio``) as its command's arguments; raises ``_UsageError`` or ``_HelpShown``."""
    return parse_line(build_parser(), line)


def parse_chat(line: str) -> ChatCellArgs:
    """The ``%%chat`` line as its arguments; raises ``_UsageError`` or ``_HelpShown``."""
    return parse_line(build_chat_parser(), line)
