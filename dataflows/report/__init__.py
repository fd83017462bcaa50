"""Reporting: weights files and the self-contained HTML tearsheet."""
