"""Model zoo; importing this package registers every model."""
from . import uhdfour  # noqa: F401
from . import llformer  # noqa: F401
