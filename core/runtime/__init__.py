"""Model runtime: the model registry (models/*.toml + the verified model store), the ONNX
Runtime session factory (TensorRT -> CUDA -> CPU) and per-family adapters.

    from core.runtime.registry import ModelStore, load_manifests
    from core.runtime.onnx import create_session, OnnxRunner
    from core.runtime.adapters.scrfd import ScrfdDetector            # Detector
    from core.runtime.adapters.retinaface import RetinaFaceDetector  # Detector
    from core.runtime.adapters.fan68 import Fan68Landmarker          # Landmarker (68 points)
    from core.runtime.adapters.arcface import ArcFaceEmbedder        # Embedder (cosine, 512-D)
    from core.runtime.adapters.restore import available_restorers, load_restorer
    from core.runtime.adapters.occlude import available_occluders, load_occluder   # face occluders / parsers
    from core.runtime.factory import load_adapter, available, try_load   # by model id
"""
