"""Frame-accurate media input and atomic deliverable output (PyAV, OpenEXR, OpenColorIO)."""
