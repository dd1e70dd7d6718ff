"""The terms bodies and configuration are both written in: OCIDs by kind, tags, selectors, validation messages.

May import: the foundation modules (``backup_handler.errors``, ``backup_handler.logs``) only. Never the SDK or fdk.
"""
