"""``ModelStudioApp``: the Jupyter Server extension that serves ``/model-studio/api/`` and ``/model-studio/v1/``."""

from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp
from traitlets import Float

from .. import __version__
from .handlers import build_handlers


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
        from ..engine import Engine

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
        from .openai import build_openai_handlers

        engine = self.settings.get("model_studio_engine")
        outputs = engine.video.outputs_dir if engine is not None else None
        if outputs is not None:
            outputs.mkdir(parents=True, exist_ok=True)
        self.handlers.extend(build_handlers(outputs))
        self.handlers.extend(build_openai_handlers())

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
