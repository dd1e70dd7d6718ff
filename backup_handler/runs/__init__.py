"""What the function does: backups, selection, batches, the lifecycle of its own backups, idempotency keys.

May import: ``backup_handler.oci``, ``backup_handler.triggers``, and the foundation modules.
"""
