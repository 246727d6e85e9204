"""Code shared by the API, the worker and the workflows: configuration, pure domain logic.

Nothing in ``core`` performs I/O at import time, and the pure modules (``merge_fields``,
``window``, ``conversation_key``) are safe to import from workflow code.
"""
