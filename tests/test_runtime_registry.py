"""Model registry, `facsimile models` CLI and the ONNX Runtime session factory."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest

from core.cli import main
from core.errors import ModelError
from core.runtime import registry
from core.runtime.onnx import create_session, select_providers
from core.runtime.registry import ModelStore, load_manifests
from tests.onnx_standins import make_restorer_standin, manifests_with_test_entry

REQUIRED_IDS = {"scrfd_10g", "scrfd_2.5g", "retinaface_10g", "2dfan4", "arcface_w600k_r50", "inswapper_128",
                "gpen_bfr_512", "gpen_bfr_1024", "gpen_bfr_2048", "gfpgan_1.4", "codeformer",
                "mediapipe_face_detection_short", "mediapipe_face_mesh_attention", "dlib_face_recognition_resnet_v1",
                "dlib_shape_predictor_68"}


def test_shipped_manifests_cover_the_pipeline_and_are_complete():
    ms = {m.id: m for m in load_manifests()}
    assert REQUIRED_IDS <= set(ms)
    for m in ms.values():
        assert m.family in registry.FAMILIES and m.file and m.licence and m.hash_source
        assert m.sha256 == "" or len(m.sha256) == 64
        if not m.is_embedded:
            assert m.inputs and m.outputs and m.input_size and m.normalisation, m.id
    assert ms["inswapper_128"].non_commercial and ms["codeformer"].non_commercial
    assert "S-Lab" in ms["codeformer"].licence
    assert not ms["gfpgan_1.4"].non_commercial
    assert ms["gpen_bfr_512"].template == "ffhq_512" and ms["arcface_w600k_r50"].template == "arcface_112"
    assert ms["retinaface_10g"].sha256 == ""  # none published: must not be invented
    assert any(i.role == "fidelity" for i in ms["codeformer"].inputs)


def test_embedded_defaults_verify_against_their_real_hashes():
    store = ModelStore()
    results = {r.model_id: r for r in store.verify_all()}
    for mid in ("mediapipe_face_detection_short", "mediapipe_face_mesh_attention", "dlib_shape_predictor_68"):
        r = results[mid]
        assert r.status == "ok", r.message
        assert r.actual == hashlib.sha256(r.path.read_bytes()).hexdigest()
        assert store.find(mid) == r.path


def test_missing_model_error_names_file_hash_and_install_command():
    store = ModelStore()
    with pytest.raises(ModelError) as exc:
        store.find("gfpgan_1.4")
    msg = str(exc.value)
    m = store.manifest("gfpgan_1.4")
    assert m.file in msg and m.sha256 in msg and "facsimile models install DIR" in msg
    assert "\n" not in msg
    with pytest.raises(ModelError, match="unknown model"):
        store.find("no_such_model")


@pytest.fixture
def test_manifest_dir(tmp_path, monkeypatch):
    """A manifests folder with the shipped manifests plus one test-only entry describing a
    small fixture file (a stand-in graph) by its own hash; the shipped manifests never list it."""
    fixture = make_restorer_standin(tmp_path / "fixture_restorer_64.onnx", size=64)
    digest = hashlib.sha256(fixture.read_bytes()).hexdigest()
    mdir = manifests_with_test_entry(tmp_path / "manifests", f"""
        [[model]]
        id = "test_fixture_restorer"
        family = "restorer"
        name = "TEST ONLY: identity stand-in, not a real model"
        file = "test_fixture_restorer.onnx"
        sha256 = "{digest}"
        hash_source = "computed by the test"
        adapter = "restore"
        input_size = [64, 64]
        template = "ffhq_512"
        licence = "test fixture"
        normalisation = {{ mean = [127.5, 127.5, 127.5], std = [127.5, 127.5, 127.5], channels = "RGB" }}
        inputs = [{{ name = "input", shape = [1, 3, 64, 64] }}]
        outputs = [{{ name = "output", shape = [1, 3, 64, 64] }}]
    """)
    monkeypatch.setenv("FACSIMILE_MANIFESTS", str(mdir))
    return fixture, digest


def test_install_verify_and_mismatch_cli(tmp_path, test_manifest_dir, capsys):
    fixture, digest = test_manifest_dir
    src = tmp_path / "incoming"
    src.mkdir()
    (src / "whatever_name.onnx").write_bytes(fixture.read_bytes())
    assert main(["models", "install", str(src)]) == 0
    out = capsys.readouterr().out
    assert "installed" in out and "test_fixture_restorer" in out
    store = ModelStore()
    installed = store.root / "test_fixture_restorer.onnx"
    assert installed.read_bytes() == fixture.read_bytes()
    assert store.find("test_fixture_restorer") == installed
    assert not list(store.root.glob("*.partial*"))
    # list --json shows it installed, embedded defaults embedded, others missing
    assert main(["models", "list", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)["models"]}
    assert rows["test_fixture_restorer"]["state"] == "installed"
    assert rows["mediapipe_face_mesh_attention"]["state"] == "embedded"
    assert rows["gfpgan_1.4"]["state"] == "missing" and rows["inswapper_128"]["non_commercial"] is True
    assert main(["models", "verify"]) == 0
    # damage the installed file: verify fails with both hashes, find raises one clear line
    data = bytearray(installed.read_bytes())
    data[-1] ^= 0xFF
    installed.write_bytes(bytes(data))
    os.utime(installed, ns=(1, 1))
    assert main(["models", "verify"]) == ModelError.exit_code
    captured = capsys.readouterr()
    assert "MISMATCH" in captured.out and digest in captured.out
    assert "do not match" in captured.err
    with pytest.raises(ModelError, match="expected " + digest):
        ModelStore().find("test_fixture_restorer")


def test_install_refuses_standins_unknown_files_and_unpublished(tmp_path, capsys):
    src = tmp_path / "incoming"
    src.mkdir()
    # A stand-in named like the real GPEN file: its hash matches no manifest -> refused.
    make_restorer_standin(src / "GPEN-BFR-512.onnx", size=64)
    (src / "notes.bin").write_bytes(b"not a model")
    (src / "retinaface_10g.onnx").write_bytes(b"pretend retinaface bytes")
    rc = main(["models", "install", str(src)])
    out = capsys.readouterr().out
    assert rc == ModelError.exit_code
    assert "hash mismatch" in out and "gpen_bfr_512" in out
    assert "unknown file" in out
    assert "no published hash" in out and "--accept-unverified" in out
    store = ModelStore()
    assert not (store.root / "GPEN-BFR-512.onnx").exists()
    assert not (store.root / "retinaface_10g.onnx").exists()
    assert store.status(store.manifest("gpen_bfr_512")) == "missing"


def test_accept_unverified_records_hash_and_warns(tmp_path, capsys, caplog):
    src = tmp_path / "incoming"
    src.mkdir()
    payload = b"bytes of a retinaface build without a published hash"
    (src / "retinaface_10g.onnx").write_bytes(payload)
    with caplog.at_level(logging.WARNING):
        assert main(["models", "install", str(src), "--accept-unverified"]) == 0
    captured = capsys.readouterr()
    assert "UNVERIFIED" in captured.out and "WARNING" in captured.err
    store = ModelStore()
    rec = store.accepted_unverified()["retinaface_10g"]
    assert rec["sha256"] == hashlib.sha256(payload).hexdigest()
    r = store.verify("retinaface_10g")
    assert r.status == "ok-unverified" and r.ok
    assert main(["models", "verify"]) == 0
    assert "UNVERIFIED" in capsys.readouterr().out
    # a file placed by hand (not through install) with no published hash cannot be verified
    (store.root / "retinaface_10g.onnx").write_bytes(b"swapped by hand")
    r = store.verify("retinaface_10g")
    assert r.status == "no-published-hash" and "no published hash: cannot verify" in r.message
    with pytest.raises(ModelError, match="no published hash: cannot verify"):
        store.find("retinaface_10g")


def test_verified_hash_is_cached_by_size_and_mtime(tmp_path, test_manifest_dir, monkeypatch):
    fixture, digest = test_manifest_dir
    store = ModelStore()
    store.install(fixture.parent)
    calls = []
    real = registry.sha256_file
    monkeypatch.setattr(registry, "sha256_file", lambda p, *a, **k: (calls.append(p), real(p))[1])
    store.find("test_fixture_restorer")
    store.find("test_fixture_restorer")
    assert calls == []  # install recorded it; no re-hash
    target = store.root / "test_fixture_restorer.onnx"
    os.utime(target, ns=(10**18, 10**18))
    store.find("test_fixture_restorer")
    assert len(calls) == 1


def test_cpu_provider_selection_logs_the_actual_provider(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("FACSIMILE_DEVICE", "cpu")
    assert [p for p, _ in select_providers()] == ["CPUExecutionProvider"]
    path = make_restorer_standin(tmp_path / "tiny.onnx", size=16)
    with caplog.at_level(logging.INFO, logger="facsimile.runtime"):
        sess = create_session(path, label="tiny-standin")
    lines = [r.getMessage() for r in caplog.records if "tiny-standin" in r.getMessage()]
    assert lines == ["model tiny-standin runs on CPUExecutionProvider"]
    x = np.random.default_rng(0).standard_normal((1, 3, 16, 16)).astype(np.float32)
    assert np.array_equal(sess.run(None, {"input": x})[0], x)
    monkeypatch.setenv("FACSIMILE_DEVICE", "auto")
    assert select_providers()[-1][0] == "CPUExecutionProvider"
    monkeypatch.setenv("FACSIMILE_DEVICE", "gpu-please")
    with pytest.raises(ModelError, match="FACSIMILE_DEVICE"):
        select_providers()


def test_tensorrt_options_use_the_cache_dir():
    from core.paths import cache_dir
    from core.runtime.onnx import TRT, provider_options

    opts = provider_options(TRT)
    assert opts["trt_engine_cache_enable"] is True
    assert Path(opts["trt_engine_cache_path"]) == cache_dir() / "trt"
    assert Path(opts["trt_engine_cache_path"]).is_dir()


def test_damaged_onnx_file_gives_model_error(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(ModelError, match="cannot load model"):
        create_session(bad, device="cpu")


def test_embedded_file_is_skipped_and_list_prints_a_table(tmp_path, capsys):
    src = tmp_path / "incoming"
    src.mkdir()
    tflite = ModelStore().path_for(ModelStore().manifest("mediapipe_face_detection_short"))
    (src / tflite.name).write_bytes(tflite.read_bytes())
    assert main(["models", "install", str(src)]) == 0
    assert "skipped" in capsys.readouterr().out
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "NON-COMM" in out and "codeformer" in out and "embedded" in out and "missing" in out


def test_installed_restorer_is_available_and_loads_from_the_store(tmp_path, test_manifest_dir, monkeypatch):
    from core.runtime.adapters.restore import available_restorers, load_restorer
    from core.runtime.onnx import OnnxRunner

    monkeypatch.setenv("FACSIMILE_DEVICE", "cpu")
    fixture, _ = test_manifest_dir
    assert "test_fixture_restorer" not in available_restorers()
    ModelStore().install(fixture.parent)
    assert available_restorers() == ["test_fixture_restorer"]
    from core.runtime.factory import available, load_adapter

    assert available("restorer") == ["test_fixture_restorer"]
    assert load_adapter("test_fixture_restorer").size == 64
    r = load_restorer("test_fixture_restorer", strength=0.8)
    assert r.size == 64 and r.strength == pytest.approx(0.8)
    assert isinstance(r.runner, OnnxRunner) and not r.runner.uses_io_binding
    frame = np.full((200, 300, 3), 90, np.uint8)
    kps = np.array([[130.0, 90.0], [170.0, 90.0], [150.0, 110.0], [135.0, 130.0], [165.0, 130.0]])
    assert np.array_equal(r.restore(frame, kps), frame)  # identity on a flat frame
    with pytest.raises(ModelError, match="failed to run"):
        r.runner.run({"input": np.zeros((1, 3, 8, 8), np.float32)})
