"""``python -m napari_dsp``: the ``napari-dsp`` command line."""

from .cli import main

raise SystemExit(main())
