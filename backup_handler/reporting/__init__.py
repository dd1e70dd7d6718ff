"""What operators get afterwards: custom metrics and failure notifications, built from one shared tally.

May import: ``backup_handler.answers`` and everything below it.
"""
