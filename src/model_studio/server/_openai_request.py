"""Moved to ``model_studio.core.chat.openai_request`` (the Jupyter server and the model host share it)."""

from ..core.chat.openai_request import ChatRequest, OpenAIError, parse_chat_request

__all__ = ["ChatRequest", "OpenAIError", "parse_chat_request"]
