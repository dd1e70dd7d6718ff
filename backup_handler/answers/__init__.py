"""What the function says: the JSON answer and the container status the Fn platform passes on.

May import: ``backup_handler.runs`` and everything below it.
"""
