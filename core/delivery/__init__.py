"""Delivery: export presets, render sidecars and provenance (synthetic-media tags, watermark)."""
