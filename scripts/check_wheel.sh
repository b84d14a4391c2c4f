#!/usr/bin/env bash
# Install like a user: build the wheel, install it into a fresh venv with the constraints file (torch: the CPU
# build), run the CLI there with no Qt binding installed at all, then add one (as napari users have) and check
# that napari finds a valid plugin whose every contribution imports.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PIP_CONSTRAINT="$PWD/constraints.txt"
.venv/bin/python -m pip wheel -q --no-deps -w "$work/dist" .
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$work"/dist/napari_dsp-*.whl
cd "$work"  # away from the checkout, so that only the installed wheel is importable
venv/bin/python -c "
import sys
from importlib.metadata import version
import napari_dsp, napari_dsp.cli
assert not {'qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6'} & set(sys.modules), 'the CLI imported Qt'
assert version('napari-dsp') == napari_dsp.__version__
"
venv/bin/napari-dsp --help > /dev/null
venv/bin/pip install -q "napari[pyqt6]" npe2
venv/bin/npe2 validate --imports napari-dsp
echo "napari-dsp wheel: installs into a fresh venv, CLI runs without Qt, valid napari plugin"
