"""Conversations that persist: stored in the studio home, branchable, exported and imported as files."""

from __future__ import annotations

from .files import FORMAT, MAX_CONTENT, MAX_LANES, MAX_TITLE, ConversationFile, parse_file, to_markdown
from .store import ConversationStore

__all__ = ["ConversationStore", "ConversationFile", "parse_file", "to_markdown", "FORMAT", "MAX_CONTENT",
           "MAX_LANES", "MAX_TITLE"]
