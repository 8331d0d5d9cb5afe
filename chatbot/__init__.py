"""Chat scheduler and content bot for advocacy campaigns."""

__version__ = "0.1.0"
