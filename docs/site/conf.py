"""Sphinx configuration of aecm's API reference, user guide and example gallery.

Build (from the repository root; warnings as errors, as CI does)::

    pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs/site docs/site/_build/html

The build needs no network access: no intersphinx, and the gallery's examples use
scikit-learn's bundled or generated data.
"""

from __future__ import annotations

import os

import aecm

project = "aecm"
author = "aecm developers"
copyright = "aecm developers"
release = aecm.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
root_doc = "index"

# -- autodoc / autosummary / numpydoc ------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
# numpydoc's own member tables would list each method a second time (duplicate targets); the
# class template (_templates/class.rst) documents the methods through autodoc instead
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

# -- HTML ------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"aecm {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": False,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False

# -- sphinx-gallery --------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": os.path.join("..", "..", "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "backreferences_dir": os.path.join("gen_modules", "backreferences"),
    "doc_module": ("aecm",),
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
}
