"""Framelane: an open, self-hostable video-AI task API."""

__version__ = "0.1.0"
