"""The napari plugin: dock widgets, sample data and the layer plumbing behind them.

The only part of the package that imports napari, Qt or magicgui; the
manifest (``napari.yaml``) points at the modules here.
"""
