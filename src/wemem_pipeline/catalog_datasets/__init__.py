"""Kedro datasets of the project's own artifacts (``type:`` in ``conf/base/catalog.yml``)."""
