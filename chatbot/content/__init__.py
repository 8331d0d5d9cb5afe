"""Content as code: chats, campaigns and vision rules read from YAML and expanded into posts."""

from chatbot.content.load import ContentSet, load_content
from chatbot.content.model import PostSpec

__all__ = ["ContentSet", "PostSpec", "load_content"]
