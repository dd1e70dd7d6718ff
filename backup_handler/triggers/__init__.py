"""What arrives: request bytes, one model per trigger source, and the one normalized request.

May import: ``backup_handler.settings``, ``backup_handler.vocabulary`` and the foundation modules. Never the SDK
or fdk.
"""
