"""``ModelStudioApp``: the Jupyter Server extension that serves ``/model-studio/api/`` and ``/model-studio/v1/``.

Every route it serves is listed in ``routes`` below, the one route table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Float

from .. import api
from .._version import __version__
from .events import EventStreamHandler
from .handlers import PREFIX as API
from .handlers import NotFoundHandler, OpenAPIHandler, OperationHandler, VideoFileHandler, route_pattern
from .openai import PREFIX as V1
from .openai import (
    ChatCompletionsHandler,
    CompletionsHandler,
    EmbeddingsHandler,
    ModelsHandler,
    OpenAINotFoundHandler,
)

Route = tuple[str, type, dict[str, Any]]


def routes(outputs_dir: Path | None = None) -> list[Route]:
    """Every route of the extension, in the order tornado tries them (the first match wins).

    Under ``/model-studio/api``: the event stream, the OpenAPI document, the generated videos and
    thumbnails (given the engine's outputs folder), one route per path of ``api.OPERATIONS`` (one
    handler serves all of a path's methods), then 404 for any other path. Under
    ``/model-studio/v1``: the OpenAI-compatible models, chat completions, completions and
    embeddings, then 404.
    """
    by_path: dict[str, dict[str, api.Operation]] = {}
    for op in api.OPERATIONS:
        by_path.setdefault(op.path, {})[op.http_method] = op
    video: list[Route] = []
    if outputs_dir is not None:
        video.append((API + r"/video/([A-Za-z0-9_-]+/(?:video\.mp4|thumbnail\.jpg))", VideoFileHandler,
                      {"path": str(outputs_dir)}))
    return [
        (API + "/events", EventStreamHandler, {}),
        (API + "/openapi.json", OpenAPIHandler, {}),
        *video,
        *[(route_pattern(path), OperationHandler, {"operations": ops}) for path, ops in by_path.items()],
        (API + "(?:/.*)?", NotFoundHandler, {}),
        (V1 + "/models", ModelsHandler, {}),
        (V1 + "/models/(?P<model>.+)", ModelsHandler, {}),
        (V1 + "/chat/completions", ChatCompletionsHandler, {}),
        (V1 + "/completions", CompletionsHandler, {}),
        (V1 + "/embeddings", EmbeddingsHandler, {}),
        (V1 + "(?:/.*)?", OpenAINotFoundHandler, {}),
    ]


class ModelStudioApp(ExtensionApp):
    """Holds the server process's one ``Engine`` and registers the REST and event-stream routes."""

    name = "model_studio"
    description = ("A local AI model studio inside Jupyter (REST under /model-studio/api/, "
                   "OpenAI-compatible under /model-studio/v1/).")
    version = __version__
    load_other_extensions = True

    system_interval = Float(
        2.0,
        config=True,
        help="Seconds between system snapshots (CPU, RAM, disks, GPUs) pushed on the event stream.",
    )
    event_keepalive = Float(
        15.0,
        config=True,
        help="Seconds of silence after which the event stream sends a comment line, so proxies keep "
        "the connection open.",
    )

    def initialize_settings(self) -> None:
        # Imported here: building the engine reads the environment (MODEL_STUDIO_HOME, HF_HUB_CACHE,
        # HF_ENDPOINT, ...) once, when the server starts, not when the module is imported.
        from ..core import Engine
        from ..core.host import set_front_door

        set_front_door("server")  # model_host "auto": this server's models live in the model host
        engine = Engine()
        self.settings.update(
            {
                "model_studio_engine": engine,
                "model_studio_events": {
                    "system_interval": self.system_interval,
                    "keepalive": self.event_keepalive,
                },
            }
        )
        self.log.info("model_studio: home %s, cache %s", engine.settings.home_path, engine.settings.cache_path)

    def initialize_handlers(self) -> None:
        engine = self.settings.get("model_studio_engine")
        outputs = engine.video.outputs_dir if engine is not None else None
        if outputs is not None:
            outputs.mkdir(parents=True, exist_ok=True)
        self.handlers.extend(routes(outputs))

    async def stop_extension(self) -> None:
        """Close the engine (running downloads become resumable); never fail the server's shutdown."""
        engine = self.settings.get("model_studio_engine")
        if engine is None:
            return
        try:
            engine.close()
        except Exception:
            self.log.exception("model_studio: error while closing the engine")


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "model_studio.server.app", "app": ModelStudioApp}]


main = launch_new_instance = ModelStudioApp.launch_instance
