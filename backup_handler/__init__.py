"""Block Storage backups from OCI Events, Monitoring alarms, schedules and manual invocations."""

from backup_handler.function import handler

__all__ = ["handler"]
