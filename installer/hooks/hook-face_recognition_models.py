"""PyInstaller hook for face_recognition_models: dlib's .dat models are package data.

The package finds them with pkg_resources.resource_filename, which PyInstaller's pkg_resources
runtime hook resolves inside the bundle, so the files only need to be collected.
"""

from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("face_recognition_models", includes=["models/*.dat"])
hiddenimports = ["pkg_resources"]
