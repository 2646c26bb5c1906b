"""Sphinx configuration for django-durabledict's documentation."""

import os
import sys

import django
from django.conf import settings

sys.path.insert(0, os.path.abspath(".."))

# autodoc imports the models and admin, so Django needs minimal settings.
if not settings.configured:
    settings.configure(
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django_durabledict",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3"}},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    )
    django.setup()

import django_durabledict

project = "django-durabledict"
author = "the django-durabledict developers"
copyright = "2026, the django-durabledict developers"
release = django_durabledict.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = f"django-durabledict {release}"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# Show defaults as written (encoding=DefaultEncoding), not as their repr.
autodoc_preserve_defaults = True
# Stored copies of these inventories are not reachable from CI machines, so
# cross-project links are written as plain text rather than intersphinx roles.
intersphinx_mapping = {}
nitpicky = False


def setup(app):
    # :setting:`DURABLEDICTS` links to the settings reference, as in Django's docs.
    app.add_crossref_type(
        directivename="setting", rolename="setting", indextemplate="pair: %s; setting"
    )
