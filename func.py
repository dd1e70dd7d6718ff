"""OCI Functions entry point: ``fdk /function/func.py handler``."""

from backup_handler import handler

__all__ = ["handler"]
