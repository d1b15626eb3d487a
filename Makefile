# The two set-up commands of the README: `make demo` and `make test`.
# They need only Python 3.11 and pip; everything else comes from the package registries.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install demo test test-all studio lint bench install-gpu clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -e '.[test,farm]'
	# PySceneDetect pins opencv-python, whose cv2/ would overwrite opencv-contrib-python's
	# (MediaPipe needs contrib): install it without its dependencies (listed in pyproject).
	$(BIN)/python -m pip install --no-deps 'scenedetect>=0.6.4'
	$(BIN)/python -c "import cv2, mediapipe, av, OpenEXR, PyOpenColorIO; assert hasattr(cv2, 'ximgproc'), 'cv2 is not the contrib build'"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/facsimile demo --out demo_output

test: $(STAMP)
	@$(BIN)/python -m pytest -n 2 -m "not bundle" $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure here"; exit 1; fi; exit $$rc

test-all: $(STAMP)
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

studio: $(STAMP)
	$(BIN)/facsimile studio

lint: $(STAMP)
	$(BIN)/ruff check core studio tests bench installer

bench: $(STAMP)
	for f in bench/*.py; do $(BIN)/python $$f || exit 1; done

install-gpu: $(STAMP)
	$(BIN)/python -m pip uninstall -y onnxruntime
	$(BIN)/python -m pip install -e '.[gpu]' 'onnxruntime-gpu>=1.17'

clean:
	rm -rf $(VENV) build dist *.egg-info
