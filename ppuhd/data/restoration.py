"""Datasets for super-resolution, denoising and deraining, and the location of the real benchmark images."""
import os
from typing import Optional

BENCHMARK_ENV = 'PPUHD_BENCHMARK_DATA'
_REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))


def benchmark_data_dir(*parts: str) -> Optional[str]:
    """The folder ``parts`` of the real benchmark images, or None when it is not there.

    The root is ``$PPUHD_BENCHMARK_DATA``, by default ``<repo>/../shared/data`` (Set5, Rain100L, McMaster as
    distributed with fenglinglwb/EDT's ``test_sets``). Tests and demos skip what needs it when None.
    """
    root = os.environ.get(BENCHMARK_ENV) or os.path.join(_REPO_ROOT, '..', 'shared', 'data')
    path = os.path.join(root, *parts)
    return os.path.abspath(path) if os.path.isdir(path) else None
