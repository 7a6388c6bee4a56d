"""Notebook widgets (anywidget): thin views over ``model_studio.api`` operations and job events.

Every widget shares the kernel's ``model_studio.engine()``, so a download started in the library
shows in the downloads widget and in the dashboard at once.
"""

from ._base import StudioWidget
from .chat import ChatPlayground
from .downloads import Downloads
from .library import ModelLibrary
from .model import ModelPage
from .studio import Studio
from .system import SystemMonitor
from .training import TrainingMonitor
from .video import VideoStudio

__all__ = ["StudioWidget", "ModelLibrary", "Downloads", "SystemMonitor", "Studio", "ChatPlayground",
           "TrainingMonitor", "VideoStudio", "ModelPage"]
