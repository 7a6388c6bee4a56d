"""Remote serving engines (``engine.endpoints``): any OpenAI-compatible server registered by URL and
key, whose models are used like local ones as ``remote/<endpoint>/<model id>``."""

from .client import RemoteClient, RemoteModel
from .endpoints import Endpoint, EndpointService
from .refs import REMOTE_PREFIX, is_remote, parse_remote, remote_id

__all__ = ["Endpoint", "EndpointService", "RemoteClient", "RemoteModel", "REMOTE_PREFIX", "is_remote",
           "parse_remote", "remote_id"]
