"""wenda's version: one string, read from the installed distribution's metadata (pyproject.toml)."""
from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("wenda")
except PackageNotFoundError:  # running from a source tree that was never installed
    VERSION = "0+unknown"
