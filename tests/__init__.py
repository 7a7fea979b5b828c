"""mindrail's tests, one folder per package of ``src/mindrail`` (top-level modules' tests sit here).

Every folder is a package so that files may share a name across folders (``gateway/test_app.py`` and
``console/test_app.py``) under pytest's default import mode; ``conftest.py`` here serves every folder."""
