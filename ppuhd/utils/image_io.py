"""The one image gate: every image the project reads (tools, datasets, deploy, the HTTP service) comes through here.

Formats: PNG, JPEG (baseline, progressive, CMYK; of a multi-picture MPO the first picture), BMP,
TIFF (the first page) and WebP (the first frame), 8 or 16 bit. The container is recognised from
its first bytes, never from the file name, and anything else (GIF, JPEG 2000, AVIF, ...) is refused.

Before any pixel is decoded the image size is read from the header (a few bytes) and checked
against one pixel limit, so a 100-byte file declaring 100000 x 100000 pixels is refused instead
of allocating gigabytes. The limit is ``max_pixels`` where a caller gives it (the service's
``--max-pixels``), otherwise the ``PPUHD_MAX_PIXELS`` environment variable, otherwise
``DEFAULT_MAX_PIXELS`` (2^27 = 134 Mpx, e.g. 16384 x 8192; an 8K frame is 33 Mpx).

Every failure, whatever the decoder raised, becomes one :class:`ImageError` (an ``OSError``)
whose message names the file; :class:`ImageTooLarge` for the pixel limit.

EXIF orientation, one policy: inference (``tools/infer.py``, ``deploy/python/infer.py``, the
service) passes ``exif=True`` and gets the image turned upright as viewers show it (outputs carry
no EXIF, so they would otherwise show rotated against their input); datasets and evaluation read
pixels as stored (``exif=False``, the default), because paired files are compared pixel for pixel
and a rotation applied to one side only would silently misalign a pair.
"""
import io
import os
import struct
from typing import BinaryIO, List, Optional, Tuple

import cv2
import numpy as np

from .fileio import atomic_write_bytes

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')
DEFAULT_MAX_PIXELS = 1 << 27
MAX_PIXELS_ENV = 'PPUHD_MAX_PIXELS'
FORMAT_NAMES = {'png': 'PNG', 'jpeg': 'JPEG', 'bmp': 'BMP', 'tiff': 'TIFF', 'webp': 'WebP'}
SUPPORTED = 'PNG, JPEG, BMP, TIFF, WebP'

# Leading bytes of each supported container (PNG spec, JFIF/EXIF SOI, BMP, TIFF little/big endian).
_MAGIC = (
    (b'\x89PNG\r\n\x1a\n', 'png'),
    (b'\xff\xd8\xff', 'jpeg'),
    (b'BM', 'bmp'),
    (b'II*\x00', 'tiff'),
    (b'MM\x00*', 'tiff'),
)
# Containers OpenCV could decode but the gate refuses, named in the error.
_REFUSED = ((b'GIF87a', 'GIF'), (b'GIF89a', 'GIF'), (b'\x00\x00\x00\x0cjP  \r\n', 'JPEG 2000'),
            (b'\xff\x4f\xff\x51', 'JPEG 2000'), (b'II+\x00', 'BigTIFF'), (b'MM\x00+', 'BigTIFF'))
# JPEG start-of-frame markers carry the image size; C4 (DHT), C8 (JPG), CC (DAC) share the range but do not.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_EXIF_ORIENTATION = 0x0112

# OpenCV logs every refused file (libtiff warnings, "can't read data"): the ImageError says it once.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_FATAL)


class ImageError(OSError):
    """A file or upload that is not a readable image of a supported format; the message names it."""


class ImageTooLarge(ImageError):
    """The header declares more pixels than the limit."""


def default_max_pixels() -> int:
    """``PPUHD_MAX_PIXELS`` if set, else ``DEFAULT_MAX_PIXELS``."""
    text = os.environ.get(MAX_PIXELS_ENV)
    if not text:
        return DEFAULT_MAX_PIXELS
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f'{MAX_PIXELS_ENV}={text!r}: expected a positive number of pixels (width * height)')
    return int(text)


def is_image_file(filename: str) -> bool:
    """True for a non-hidden file name with one of ``IMAGE_EXTENSIONS`` (any case)."""
    name = os.path.basename(filename)
    return not name.startswith('.') and name.lower().endswith(IMAGE_EXTENSIONS)


def list_images(folder: str) -> List[str]:
    """Sorted paths of the image files directly inside ``folder`` (hidden files such as ``._x.png`` skipped)."""
    return sorted(os.path.join(folder, name) for name in os.listdir(folder)
                  if is_image_file(name) and os.path.isfile(os.path.join(folder, name)))


def sniff_bytes(head: bytes) -> Optional[str]:
    """The supported container of these first bytes ('png', 'jpeg', 'bmp', 'tiff', 'webp'), or None."""
    if head[:4] == b'RIFF' and head[8:12] == b'WEBP':
        return 'webp'
    return next((fmt for magic, fmt in _MAGIC if head.startswith(magic)), None)


def sniff_image_format(path: str) -> Optional[str]:
    """The container format from the file's first bytes ('png', 'jpeg', 'bmp', 'tiff', 'webp'), or None."""
    with open(path, 'rb') as f:
        return sniff_bytes(f.read(12))


def _unpack(fmt: str, data: bytes) -> tuple:
    if len(data) != struct.calcsize(fmt):
        raise EOFError('header ends early')
    return struct.unpack(fmt, data)


def _png_size(f: BinaryIO) -> Tuple[int, int]:
    f.seek(12)  # signature, then the first chunk's length; IHDR must come first (PNG spec 5.6)
    tag, w, h = _unpack('>4sII', f.read(12))
    if tag != b'IHDR':
        raise ValueError('the first chunk is not IHDR')
    return h, w


def _bmp_size(f: BinaryIO) -> Tuple[int, int]:
    f.seek(14)
    (header_size,) = _unpack('<I', f.read(4))
    if header_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        w, h = _unpack('<HH', f.read(4))
        return h, w
    w, h = _unpack('<ii', f.read(8))  # BITMAPINFOHEADER and later; a negative height = top-down rows
    return abs(h), w


def _jpeg_size(f: BinaryIO) -> Tuple[int, int]:
    """Walk the marker segments up to the first start-of-frame (of an MPO: the first picture's)."""
    f.seek(2)
    while True:
        if f.read(1) != b'\xff':
            raise ValueError('no marker where one is expected')
        marker = f.read(1)
        while marker == b'\xff':  # fill bytes may precede a marker
            marker = f.read(1)
        if not marker or marker[0] in (0xD9, 0xDA):
            raise ValueError('no frame header before the image data')
        if 0xD0 <= marker[0] <= 0xD7 or marker[0] == 0x01:  # stand-alone markers have no length field
            continue
        (length,) = _unpack('>H', f.read(2))
        if length < 2:
            raise ValueError(f'segment length {length}')
        if marker[0] in _JPEG_SOF:
            _, h, w = _unpack('>BHH', f.read(5))  # precision, height, width
            return h, w
        f.seek(length - 2, os.SEEK_CUR)


def _tiff_size(f: BinaryIO) -> Tuple[int, int]:
    """ImageWidth (256) and ImageLength (257) of the first IFD (the page OpenCV decodes)."""
    f.seek(0)
    order = '<' if f.read(2) == b'II' else '>'
    f.seek(4)
    (offset,) = _unpack(order + 'I', f.read(4))
    f.seek(offset)
    (count,) = _unpack(order + 'H', f.read(2))
    size = {}
    for _ in range(count):
        tag, kind, _, value = _unpack(order + 'HHI4s', f.read(12))
        if tag in (256, 257):
            if kind not in (3, 4):  # SHORT or LONG
                raise ValueError(f'size tag {tag} has type {kind}')
            size[tag] = _unpack(order + ('H' if kind == 3 else 'I'), value[:2 if kind == 3 else 4])[0]
    if len(size) != 2:
        raise ValueError('the first page has no ImageWidth/ImageLength')
    return size[257], size[256]


def _webp_size(f: BinaryIO) -> Tuple[int, int]:
    """Canvas size of a lossy (VP8), lossless (VP8L) or extended (VP8X: alpha, animation) WebP."""
    f.seek(12)
    chunk = f.read(4)
    f.seek(20)
    if chunk == b'VP8 ':  # 3-byte frame tag, start code 9d 01 2a, then 14-bit width and height
        start, w, h = _unpack('<3x3sHH', f.read(10))
        if start != b'\x9d\x01\x2a':
            raise ValueError('no VP8 start code')
        return h & 0x3FFF, w & 0x3FFF
    if chunk == b'VP8L':  # signature 0x2f, then (width - 1) and (height - 1) in 14 bits each
        signature, bits = _unpack('<BI', f.read(5))
        if signature != 0x2F:
            raise ValueError('no VP8L signature')
        return ((bits >> 14) & 0x3FFF) + 1, (bits & 0x3FFF) + 1
    if chunk == b'VP8X':  # flags and reserved bytes, then 24-bit (width - 1) and (height - 1)
        data = f.read(10)
        if len(data) != 10:
            raise EOFError('header ends early')
        return int.from_bytes(data[7:10], 'little') + 1, int.from_bytes(data[4:7], 'little') + 1
    raise ValueError(f'unknown first chunk {chunk!r}')


_SIZE_READERS = {'png': _png_size, 'jpeg': _jpeg_size, 'bmp': _bmp_size, 'tiff': _tiff_size, 'webp': _webp_size}


def _header(f: BinaryIO, name: str) -> Tuple[str, int, int]:
    """(format, height, width) from the header; ImageError naming ``name`` when it is not one we read."""
    head = f.read(12)
    fmt = sniff_bytes(head)
    if fmt is None:
        if not head:
            raise ImageError(f'Cannot read image {name}: the file is empty')
        refused = next((what for magic, what in _REFUSED if head.startswith(magic)), None)
        if refused:
            raise ImageError(f'Cannot read image {name}: unsupported image format {refused}; supported: {SUPPORTED}')
        raise ImageError(f'Cannot read image {name}: not a recognised image (supported: {SUPPORTED})')
    try:
        h, w = _SIZE_READERS[fmt](f)
    except (ValueError, EOFError, struct.error, OSError) as err:
        raise ImageError(f'Cannot read image {name}: corrupt or truncated {FORMAT_NAMES[fmt]} header ({err})') from None
    if h <= 0 or w <= 0:
        raise ImageError(f'Cannot read image {name}: the {FORMAT_NAMES[fmt]} header declares an empty {w}x{h} image')
    return fmt, h, w


def read_image_size(path: str) -> Optional[Tuple[int, int]]:
    """(height, width) from the header of a supported image; None when the file is not one (no decoding)."""
    try:
        with open(path, 'rb') as f:
            return _header(f, path)[1:]
    except ImageError:
        return None


def check_header(f: BinaryIO, name: str, max_pixels: Optional[int] = None) -> Tuple[str, int, int]:
    """(format, height, width) of the image in ``f``, refused before decoding when over the pixel limit.

    Raises:
        ImageTooLarge: the header declares more than ``max_pixels`` (default: :func:`default_max_pixels`).
        ImageError: not a supported image, or an unreadable header.
    """
    limit = max_pixels or default_max_pixels()
    fmt, h, w = _header(f, name)
    if h * w > limit:
        hint = '' if max_pixels else f' (set {MAX_PIXELS_ENV} to change it)'
        raise ImageTooLarge(f'Cannot read image {name}: too many pixels: its header declares {w}x{h} = {w * h}; '
                            f'the limit is {limit}{hint}')
    return fmt, h, w


def exif_orientation(data: bytes) -> int:
    """The EXIF orientation (1..8) of an encoded image; 1 when it has none or it cannot be read.

    Read by Pillow's pure-Python EXIF parser (no pixel decoding); an unreadable EXIF block
    leaves the image as stored rather than failing it.
    """
    from PIL import Image
    try:
        with Image.open(io.BytesIO(data)) as img:
            value = img.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - any parser failure means "no usable orientation"
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """Turn an HWC image stored with EXIF ``orientation`` upright (as Pillow's ``ImageOps.exif_transpose``)."""
    if orientation in (5, 6, 7, 8):
        img = img.transpose(1, 0, *range(2, img.ndim))  # the stored rows are the displayed columns
    if orientation in (2, 3, 6, 7):
        img = img[:, ::-1]
    if orientation in (3, 4, 7, 8):
        img = img[::-1]
    return np.ascontiguousarray(img)


def _to_rgb(img: np.ndarray, name: str, fmt: str) -> np.ndarray:
    if img.dtype not in (np.uint8, np.uint16):
        raise ImageError(f'Cannot read image {name}: {FORMAT_NAMES[fmt]} samples are {img.dtype} '
                         '(supported: 8 or 16 bit integers)')
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 2, 3, 4):
        raise ImageError(f'Cannot read image {name}: {img.shape[2] if img.ndim == 3 else "?"} channels '
                         '(supported: gray, gray + alpha, RGB, RGBA)')
    if img.shape[2] <= 2:  # gray or gray + alpha
        return np.repeat(img[:, :, :1], 3, axis=2)
    return np.ascontiguousarray(img[:, :, 2::-1])  # BGR(A) -> RGB, alpha dropped


def decode_image(data: bytes, name: str = 'upload', max_pixels: Optional[int] = None,
                 exif: bool = False) -> np.ndarray:
    """Encoded bytes -> HWC RGB in the file's own dtype (uint8 or uint16); gray becomes 3 channels, alpha is dropped.

    Args:
        data: the encoded image.
        name: how errors name it (a path, or 'upload').
        max_pixels: pixel limit checked on the header before decoding (default: :func:`default_max_pixels`).
        exif: turn the image upright by its EXIF orientation (inference), else keep it as stored.

    Raises:
        ImageTooLarge: over the pixel limit.
        ImageError: anything else that makes it unreadable, whatever the decoder raised.
    """
    fmt, h, w = check_header(io.BytesIO(data), name, max_pixels)
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except Exception as err:  # noqa: BLE001 - cv2.error, MemoryError, ...: all mean "this file cannot be read"
        raise ImageError(f'Cannot read image {name}: the {FORMAT_NAMES[fmt]} decoder failed '
                         f'({type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ""})') \
            from None
    if img is None:
        raise ImageError(f'Cannot read image {name}: not a decodable {FORMAT_NAMES[fmt]} image (corrupt or truncated?)')
    if img.shape[0] * img.shape[1] > h * w:  # the decoder read another frame than the header we checked
        raise ImageError(f'Cannot read image {name}: decoded {img.shape[1]}x{img.shape[0]} pixels, but the '
                         f'header declares {w}x{h}')
    img = _to_rgb(img, name, fmt)
    return apply_orientation(img, exif_orientation(data)) if exif else img


def read_image_native(path: str, max_pixels: Optional[int] = None, exif: bool = False) -> np.ndarray:
    """HWC RGB image of the file at ``path`` in its own dtype (uint8 or uint16), see :func:`decode_image`.

    The header is checked against the pixel limit before the rest of the file is read.

    Raises:
        ImageError: (an OSError) the file is missing, empty, too large, truncated or not a supported image.
    """
    try:
        with open(path, 'rb') as f:
            check_header(f, path, max_pixels)
            f.seek(0)
            data = f.read()
    except ImageError:
        raise
    except OSError as err:
        reason = 'file does not exist' if isinstance(err, FileNotFoundError) else (err.strerror or str(err))
        raise ImageError(f'Cannot read image {path}: {reason}') from None
    return decode_image(data, path, max_pixels, exif)


def image_to_float(img: np.ndarray) -> np.ndarray:
    """uint8 / uint16 image -> float32 in [0, 1] (divided by the dtype's maximum)."""
    return img.astype(np.float32) / np.float32(np.iinfo(img.dtype).max)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """uint8 as is; uint16 rounded to 8 bit (65535 / 255 = 257 exactly)."""
    return np.round(img / 257.0).astype(np.uint8) if img.dtype == np.uint16 else img


def read_image(path: str, max_pixels: Optional[int] = None, exif: bool = False) -> np.ndarray:
    """uint8 HWC RGB image; 16-bit files are rounded to 8 bit."""
    return to_uint8(read_image_native(path, max_pixels, exif))


def read_image_float(path: str, max_pixels: Optional[int] = None, exif: bool = False) -> np.ndarray:
    """float32 HWC RGB image in [0, 1], at the file's full bit depth."""
    return image_to_float(read_image_native(path, max_pixels, exif))


def encode_image(img: np.ndarray, ext: str = '.png') -> bytes:
    """A HWC (or HW) RGB image encoded by extension: uint8 as is, float taken as [0, 1], rounded and clipped to 8 bit.

    Raises:
        OSError: OpenCV cannot encode this image with this extension.
    """
    if img.dtype != np.uint8:
        img = np.clip(np.round(np.asarray(img, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
    if img.ndim == 3:
        img = img[:, :, ::-1]  # RGB -> BGR for OpenCV
    try:
        ok, buf = cv2.imencode(ext, np.ascontiguousarray(img))
    except cv2.error as err:  # OpenCV raises for an unknown extension
        raise OSError(f'cannot encode an image as {ext!r}: {str(err).strip().splitlines()[-1]}') from None
    if not ok:
        raise OSError(f'cannot encode a {img.shape} {img.dtype} image as {ext!r}')
    return buf.tobytes()


def write_image(path: str, img: np.ndarray) -> None:
    """Write a HWC (or HW) RGB image (see :func:`encode_image`); the format follows the extension.

    The parent folder is created. The file is written under a temporary name and renamed over
    ``path``, so ``path`` is never half-written and a symlink at ``path`` is replaced, not followed.

    Raises:
        OSError: the image cannot be encoded, or the location is not writable.
    """
    try:
        atomic_write_bytes(path, encode_image(img, os.path.splitext(path)[1] or '.png'))
    except OSError as err:
        raise OSError(f'Cannot write image {path}: {err.strerror or err}') from None
