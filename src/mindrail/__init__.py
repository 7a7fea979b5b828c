"""mindrail: a safety layer between people and chat models for mental-health conversations."""

__version__ = "0.1.0"
