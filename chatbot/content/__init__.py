"""Content as code: chats, campaigns and vision rules read from YAML and expanded into posts.

``load.load_content`` reads everything; ``model`` has the shapes. Nothing is imported here, so
a module that needs only the post kinds does not load every content module.
"""
