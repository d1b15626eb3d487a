"""Face analysis: detection, 478-point landmarks, tracking, head pose, gaze, identity embedding."""

# Public names, imported lazily (the models pull in MediaPipe and dlib):
#   Analyzer, FaceResult, main_track      core.analysis.analyzer
#   ShotAnalysis                           core.analysis.types
#   write_openface_csv                     core.analysis.openface_csv
#   compare_images                         core.analysis.identity
_LAZY = {
    "Analyzer": "core.analysis.analyzer", "FaceResult": "core.analysis.analyzer",
    "main_track": "core.analysis.analyzer", "ShotAnalysis": "core.analysis.types",
    "write_openface_csv": "core.analysis.openface_csv", "compare_images": "core.analysis.identity",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'core.analysis' has no attribute {name!r}")
