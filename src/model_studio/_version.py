"""The package's version, defined once: hatch reads it for the wheel's metadata (pyproject's
``[tool.hatch.version]``) and modules below the package face import it from here, not from the face."""

__version__ = "0.1.0"
