"""Detector plug-ins behind one small protocol (:class:`base.Detector`), one file each, found by name.

``base.create("centerface", ...)`` imports only the module that registers the
name asked for, so a run that uses two plug-ins does not load the others'
dependencies.
"""
