"""Model zoo; importing this package registers every model."""
from . import uhdfour  # noqa: F401
from . import deit, regnet, vit  # noqa: F401,E402
from . import llformer  # noqa: F401
from . import ipt  # noqa: F401
from . import edt, espcn  # noqa: F401
