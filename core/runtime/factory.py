"""Open any installed ONNX model by id through the adapter its manifest names, so callers
(the analysis pipeline, the render stage) need not know the adapter classes."""

from __future__ import annotations

import logging
from typing import Any

from core.errors import ModelError
from core.runtime.registry import ModelStore
from core.util.report import HANDED_BACK

log = logging.getLogger("facsimile.runtime")


def _adapter_class(name: str) -> type:
    if name in ("scrfd",):
        from core.runtime.adapters.scrfd import ScrfdDetector as cls
    elif name == "retinaface":
        from core.runtime.adapters.retinaface import RetinaFaceDetector as cls
    elif name == "fan68":
        from core.runtime.adapters.fan68 import Fan68Landmarker as cls
    elif name == "arcface":
        from core.runtime.adapters.arcface import ArcFaceEmbedder as cls
    elif name == "restore":
        from core.runtime.adapters.restore import OnnxRestorer as cls
    elif name == "occlude":
        from core.runtime.adapters.occlude import OnnxOccluder as cls
    else:
        raise KeyError(name)
    return cls


def load_adapter(model_id: str, store: ModelStore | None = None, **options: Any) -> Any:
    """The adapter object (Detector, Landmarker, Embedder, Restorer or Occluder) for an installed,
    verified model. ModelError when it is unknown, missing, damaged or has no adapter."""
    store = store or ModelStore()
    m = store.manifest(model_id)
    if m.is_embedded:
        raise ModelError(f"{model_id} is an embedded default (used through core.analysis), not an ONNX adapter model")
    try:
        cls = _adapter_class(m.adapter)
    except KeyError:
        raise ModelError(f"{model_id} ({m.family}) has no adapter in this build; it can be installed and verified "
                         "but not run yet") from None
    store.find(model_id)
    return cls(model_id=model_id, store=store, **options)


def available(family: str, store: ModelStore | None = None) -> list[str]:
    """Ids of installed, verifying ONNX models of `family` that have an adapter."""
    store = store or ModelStore()
    out = []
    for m in store.manifests:
        if m.family != family or m.is_embedded or not m.adapter:
            continue
        if store.status(m) == "installed" and store.verify(m).ok:
            out.append(m.id)
    return out


def try_load(model_id: str, store: ModelStore | None = None, **options: Any) -> tuple[Any | None, str]:
    """(adapter, "") or (None, reason): for optional stages that switch themselves off.
    The reason is logged as a WARNING (handed back: the caller reports it too) and is meant for
    the render's metadata."""
    try:
        return load_adapter(model_id, store, **options), ""
    except ModelError as exc:
        log.warning("%s is off: %s", model_id, exc, extra=HANDED_BACK)
        return None, str(exc)
