"""Image reading and writing with one convention: HWC, RGB channel order.

OpenCV decodes every format used by the low-light datasets (PNG, JPEG, BMP,
TIFF, 8 and 16 bit). Reads use ``IMREAD_UNCHANGED`` so the bit depth is kept
and EXIF orientation is ignored: paired files are compared pixel for pixel, and
a rotation applied to one side only would silently misalign a pair.

``sniff_image_format`` and ``read_image_size`` read a few header bytes only,
so a dataset can check thousands of 4K files before training starts without
decoding them.
"""
import os
import struct
from typing import List, Optional, Tuple

import cv2
import numpy as np

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')

# Leading bytes of each supported container (PNG spec, JFIF/EXIF SOI, BMP, TIFF little/big endian).
_MAGIC = (
    (b'\x89PNG\r\n\x1a\n', 'png'),
    (b'\xff\xd8\xff', 'jpeg'),
    (b'BM', 'bmp'),
    (b'II*\x00', 'tiff'),
    (b'MM\x00*', 'tiff'),
)
# JPEG start-of-frame markers carry the image size; C4 (DHT), C8 (JPG), CC (DAC) share the range but do not.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def is_image_file(filename: str) -> bool:
    """True for a non-hidden file name with one of ``IMAGE_EXTENSIONS`` (any case)."""
    name = os.path.basename(filename)
    return not name.startswith('.') and name.lower().endswith(IMAGE_EXTENSIONS)


def list_images(folder: str) -> List[str]:
    """Sorted paths of the image files directly inside ``folder`` (hidden files such as ``._x.png`` skipped)."""
    return sorted(os.path.join(folder, name) for name in os.listdir(folder)
                  if is_image_file(name) and os.path.isfile(os.path.join(folder, name)))


def sniff_image_format(path: str) -> Optional[str]:
    """The container format from the file's first bytes ('png', 'jpeg', 'bmp', 'tiff'), or None."""
    with open(path, 'rb') as f:
        head = f.read(8)
    return next((fmt for magic, fmt in _MAGIC if head.startswith(magic)), None)


def read_image_size(path: str) -> Optional[Tuple[int, int]]:
    """(height, width) from the header of a PNG, JPEG or BMP file; None for other formats or odd headers."""
    fmt = sniff_image_format(path)
    with open(path, 'rb') as f:
        if fmt == 'png':
            head = f.read(24)  # signature, IHDR length and tag, then width and height (big endian)
            return (struct.unpack('>I', head[20:24])[0], struct.unpack('>I', head[16:20])[0]) \
                if len(head) == 24 else None
        if fmt == 'bmp':
            head = f.read(26)  # BITMAPINFOHEADER: width, height at 18; negative height = top-down rows
            return (abs(struct.unpack('<i', head[22:26])[0]), struct.unpack('<i', head[18:22])[0]) \
                if len(head) == 26 else None
        if fmt == 'jpeg':
            return _jpeg_size(f)
    return None


def _jpeg_size(f) -> Optional[Tuple[int, int]]:
    """Walk the JPEG marker segments up to the first start-of-frame."""
    f.seek(2)
    while True:
        if f.read(1) != b'\xff':
            return None
        marker = f.read(1)
        while marker == b'\xff':  # fill bytes may precede a marker
            marker = f.read(1)
        if not marker or marker[0] in (0xD9, 0xDA):  # end of image or start of scan: no frame header seen
            return None
        if 0xD0 <= marker[0] <= 0xD7 or marker[0] == 0x01:  # stand-alone markers have no length field
            continue
        seg = f.read(2)
        if len(seg) < 2:
            return None
        if marker[0] in _JPEG_SOF:
            data = f.read(5)  # precision, height, width
            return (struct.unpack('>H', data[1:3])[0], struct.unpack('>H', data[3:5])[0]) if len(data) == 5 else None
        f.seek(struct.unpack('>H', seg)[0] - 2, os.SEEK_CUR)


def read_image_native(path: str) -> np.ndarray:
    """HWC RGB image in the file's own dtype (uint8 or uint16); gray becomes 3 channels, alpha is dropped.

    Raises:
        OSError: the file is missing, empty, truncated or not a decodable image.
    """
    if not os.path.isfile(path):
        raise OSError(f'Cannot read image {path}: file does not exist')
    img = cv2.imread(os.fspath(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise OSError(f'Cannot read image {path}: not a decodable image (corrupt or truncated?)')
    if img.dtype not in (np.uint8, np.uint16):
        raise OSError(f'Cannot read image {path}: unsupported dtype {img.dtype} (expected 8 or 16 bit)')
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] <= 2:  # gray or gray + alpha
        return np.repeat(img[:, :, :1], 3, axis=2)
    return np.ascontiguousarray(img[:, :, 2::-1])  # BGR(A) -> RGB, alpha dropped


def image_to_float(img: np.ndarray) -> np.ndarray:
    """uint8 / uint16 image -> float32 in [0, 1] (divided by the dtype's maximum)."""
    return img.astype(np.float32) / np.float32(np.iinfo(img.dtype).max)


def read_image(path: str) -> np.ndarray:
    """uint8 HWC RGB image; 16-bit files are rounded to 8 bit."""
    img = read_image_native(path)
    if img.dtype == np.uint16:
        img = np.round(img / 257.0).astype(np.uint8)  # 65535 / 255 = 257 exactly
    return img


def read_image_float(path: str) -> np.ndarray:
    """float32 HWC RGB image in [0, 1], at the file's full bit depth."""
    return image_to_float(read_image_native(path))


def write_image(path: str, img: np.ndarray) -> None:
    """Write a HWC (or HW) RGB image: uint8 as is, float taken as [0, 1], rounded and clipped to 8 bit.

    The parent folder is created. The format follows the extension.

    Raises:
        OSError: OpenCV could not encode or write the file.
    """
    if img.dtype != np.uint8:
        img = np.clip(np.round(np.asarray(img, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
    if img.ndim == 3:
        img = img[:, :, ::-1]  # RGB -> BGR for OpenCV
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    try:
        ok = cv2.imwrite(os.fspath(path), np.ascontiguousarray(img))
    except cv2.error as err:  # OpenCV raises for an unknown extension, returns False for I/O failures
        raise OSError(f'Cannot write image {path}: {err}') from err
    if not ok:
        raise OSError(f'Cannot write image {path}: unwritable location or unsupported image')
