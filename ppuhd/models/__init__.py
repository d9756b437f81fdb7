"""Model zoo; importing this package registers every model."""
from . import uhdfour  # noqa: F401
