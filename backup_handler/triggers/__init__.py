"""What arrives: request bytes, one model per trigger source, OCID kinds, and the one normalized request.

May import: ``backup_handler.errors``, ``backup_handler.logs``; the normalized request (``request``) may also
import ``backup_handler.settings``. Never the SDK or fdk.
"""
