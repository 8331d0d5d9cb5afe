"""The queue: planning content into the posts table, applying it, and human review."""
