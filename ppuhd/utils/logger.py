"""Console/file logging (rank 0 only) and an optional VisualDL writer."""
import logging
import os
import sys
from typing import Optional

from .dist import is_main_process

_LOGGER_NAME = 'ppuhd'


def get_logger(log_file: Optional[str] = None) -> logging.Logger:
    """The package logger; other ranks only log warnings and errors."""
    logger = logging.getLogger(_LOGGER_NAME)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter('[%(asctime)s] %(levelname)s %(message)s', '%H:%M:%S'))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.INFO if is_main_process() else logging.WARNING)
    if log_file and is_main_process() and not any(
            isinstance(h, logging.FileHandler) and h.baseFilename == os.path.abspath(log_file)
            for h in logger.handlers):
        os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
        file_handler = logging.FileHandler(log_file)
        file_handler.setFormatter(logging.Formatter('[%(asctime)s] %(levelname)s %(message)s'))
        logger.addHandler(file_handler)
    return logger


class VisualDLWriter:
    """Thin wrapper that is a no-op on non-zero ranks or when VisualDL is unavailable.

    Args:
        logdir: directory of the VisualDL event files.
    """

    def __init__(self, logdir: str):
        self.writer = None
        if not is_main_process():
            return
        try:
            from visualdl import LogWriter
        except ImportError as err:  # visualdl is a declared dependency; keep training if it breaks
            get_logger().warning('VisualDL unavailable (%s); scalars go to the console only', err)
            return
        self.writer = LogWriter(logdir=logdir)

    def scalar(self, tag: str, value: float, step: int) -> None:
        if self.writer is not None:
            self.writer.add_scalar(tag=tag, value=float(value), step=step)

    def image(self, tag: str, img, step: int) -> None:
        """``img``: uint8 HWC RGB."""
        if self.writer is not None:
            self.writer.add_image(tag=tag, img=img, step=step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
