"""Facsimile engine: headless, no Qt anywhere below this package."""

__version__ = "0.1.0"
