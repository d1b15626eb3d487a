"""PyInstaller hook for MediaPipe 0.10.14 (pyinstaller-hooks-contrib has none).

MediaPipe's legacy `mp.solutions` graphs load their .binarypb graphs and .tflite models by
path from inside the package folder at run time, so every model and graph file must sit in the
bundle at `mediapipe/modules/...`. The Python side imports the solution modules and the
protobuf calculator options dynamically, so they are collected as hidden imports.
"""

from PyInstaller.utils.hooks import collect_data_files, collect_submodules

datas = collect_data_files("mediapipe", includes=["**/*.tflite", "**/*.binarypb", "**/*.txt", "**/*.pbtxt"])


def _wanted(name: str) -> bool:
    return not (name.endswith("_test") or ".examples" in name or name.startswith("mediapipe.model_maker")
                or name.startswith("mediapipe.tasks"))


hiddenimports = collect_submodules("mediapipe", filter=_wanted)
