"""The dispatcher of GT's remote mode: ``python -m gt.server -p PORT``."""
