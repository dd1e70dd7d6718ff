"""How the function talks to OCI: the declarative operation table, clients built on it, and the throttle.

May import: ``backup_handler.triggers``, ``backup_handler.settings`` and the foundation modules
(``backup_handler.errors``, ``backup_handler.logs``).
"""
