"""The one image gate (ppuhd/utils/image_io.py): formats, the header pixel limit before decoding, one error type,
the EXIF orientation policy, and the readers that use it."""
import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from ppuhd.utils import image_io
from ppuhd.utils.image_io import (ImageError, ImageTooLarge, apply_orientation, decode_image, read_image_native,
                                  read_image_size)


def _rgb(h=24, w=32, seed=0):
    yy, xx = np.mgrid[0:h, 0:w]
    noise = np.random.default_rng(seed).normal(0, 8, (h, w, 3))
    return np.clip(np.stack([90 + 60 * np.sin(xx / 5 + k) + 30 * np.cos(yy / 4) for k in range(3)], -1) + noise,
                   0, 255).astype(np.uint8)


def _pil(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _pil_rgb(data, frame=0):
    img = Image.open(io.BytesIO(data))
    img.seek(frame)
    return np.asarray(img.convert('RGB'))


A, B = _rgb(), _rgb(seed=1)[::-1].copy()
PALETTED = np.asarray(Image.fromarray(A).quantize(16).convert('RGB'))
# (name, encoded bytes, expected RGB, tolerance): every format and variant the gate promises
KINDS = [
    ('png', _pil(Image.fromarray(A), 'PNG'), A, 0),
    ('png gray', _pil(Image.fromarray(A[:, :, 0]), 'PNG'), np.repeat(A[:, :, :1], 3, 2), 0),
    ('png rgba', _pil(Image.fromarray(np.dstack([A, A[:, :, :1]])), 'PNG'), A, 0),
    ('png palette', _pil(Image.fromarray(A).quantize(16), 'PNG'), PALETTED, 0),
    ('jpeg', _pil(Image.fromarray(A), 'JPEG', quality=90), None, 0),
    ('jpeg progressive', _pil(Image.fromarray(A), 'JPEG', quality=90, progressive=True), None, 0),
    ('jpeg cmyk', _pil(Image.fromarray(A).convert('CMYK'), 'JPEG', quality=95), None, 2),
    ('mpo first picture', _pil(Image.fromarray(A), 'MPO', save_all=True, append_images=[Image.fromarray(B)]), None, 0),
    ('bmp', _pil(Image.fromarray(A), 'BMP'), A, 0),
    ('bmp palette', _pil(Image.fromarray(A).quantize(16), 'BMP'), PALETTED, 0),
    ('tiff first page', _pil(Image.fromarray(A), 'TIFF', save_all=True, append_images=[Image.fromarray(B)]), A, 0),
    ('webp lossless', _pil(Image.fromarray(A), 'WEBP', lossless=True), A, 0),
    ('webp lossy', _pil(Image.fromarray(A), 'WEBP', quality=80), None, 3),
    ('webp first frame', _pil(Image.fromarray(A), 'WEBP', lossless=True, save_all=True,
                              append_images=[Image.fromarray(B)]), A, 0),
]


@pytest.mark.parametrize('name, data, expected, tol', KINDS, ids=[k[0] for k in KINDS])
def test_every_promised_format_decodes(name, data, expected, tol):
    img = decode_image(data, name)
    expected = _pil_rgb(data) if expected is None else expected  # Pillow's reading of the same (first) frame
    assert img.dtype == np.uint8 and img.shape == (24, 32, 3)
    assert np.abs(img.astype(int) - expected).max() <= tol
    assert image_io.check_header(io.BytesIO(data), name)[1:] == (24, 32)  # the header parser agrees


def test_16_bit_is_kept():
    deep = (np.random.default_rng(0).random((9, 11, 3)) * 65535).astype(np.uint16)
    ok, png = cv2.imencode('.png', deep[:, :, ::-1])
    ok2, tif = cv2.imencode('.tif', deep[:, :, 0])
    assert ok and ok2
    assert np.array_equal(decode_image(png.tobytes()), deep)
    assert np.array_equal(decode_image(tif.tobytes()), np.repeat(deep[:, :, :1], 3, 2))


# ----------------------------------------------------------------------------- the pixel limit, before decoding
def _png_declaring(w, h):
    data = bytearray(_pil(Image.new('L', (1, 1)), 'PNG'))
    data[16:24] = struct.pack('>II', w, h)
    data[29:33] = struct.pack('>I', zlib.crc32(bytes(data[12:29])))  # IHDR checksum over type + fields
    return bytes(data)


def _jpeg_declaring(w, h):
    data = bytearray(_pil(Image.new('RGB', (8, 8)), 'JPEG'))
    sof = data.index(b'\xff\xc0')
    data[sof + 5:sof + 9] = struct.pack('>HH', h, w)
    return bytes(data)


def _bmp_declaring(w, h):
    data = bytearray(_pil(Image.new('RGB', (2, 2)), 'BMP'))
    data[18:26] = struct.pack('<ii', w, h)
    return bytes(data)


def _tiff_declaring(w, h):
    entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 1, 8), (277, 3, 1, 1)]
    ifd = struct.pack('<H', len(entries)) + b''.join(struct.pack('<HHII', *e) for e in entries) + b'\0' * 4
    return b'II*\x00' + struct.pack('<I', 8) + ifd + b'\0' * 64


def _webp_declaring(w, h):
    vp8x = b'VP8X' + struct.pack('<I', 10) + b'\x00' * 4 + (w - 1).to_bytes(3, 'little') + (h - 1).to_bytes(3, 'little')
    return b'RIFF' + struct.pack('<I', 4 + len(vp8x)) + b'WEBP' + vp8x


BOMBS = [('png', _png_declaring(100000, 100000)), ('jpeg', _jpeg_declaring(65500, 65500)),
         ('bmp', _bmp_declaring(100000, -100000)), ('tiff', _tiff_declaring(100000, 100000)),
         ('webp', _webp_declaring(16000000, 16000000))]


@pytest.mark.parametrize('fmt, data', BOMBS, ids=[b[0] for b in BOMBS])
def test_huge_header_is_refused_before_decoding(fmt, data, tmp_path, monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError('the decoder was called')
    monkeypatch.setattr(cv2, 'imdecode', no_decoding)
    path = tmp_path / f'bomb.{fmt}'
    path.write_bytes(data)
    with pytest.raises(ImageTooLarge, match=r'too many pixels.*the limit is 134217728') as err:
        read_image_native(str(path))
    assert str(path) in str(err.value)
    assert read_image_size(str(path))[0] * read_image_size(str(path))[1] > image_io.DEFAULT_MAX_PIXELS


def test_one_configurable_limit(monkeypatch):
    data = _pil(Image.fromarray(A), 'PNG')  # 32 x 24 = 768 pixels
    monkeypatch.setenv(image_io.MAX_PIXELS_ENV, '767')
    with pytest.raises(ImageTooLarge, match=f'limit is 767 .set {image_io.MAX_PIXELS_ENV}'):
        decode_image(data)
    assert decode_image(data, max_pixels=768).shape == (24, 32, 3)  # an explicit limit (the service's) wins
    monkeypatch.setenv(image_io.MAX_PIXELS_ENV, 'lots')
    with pytest.raises(ValueError, match=image_io.MAX_PIXELS_ENV):
        decode_image(data)


# ----------------------------------------------------------------------------- one error, naming the file
@pytest.mark.parametrize('raised', [TypeError('bad tag type'), MemoryError(), cv2.error('OpenCV(5) error'),
                                    ValueError('x'), RuntimeError('libtiff'), None])
def test_any_decoder_failure_is_one_image_error_naming_the_file(raised, tmp_path, monkeypatch):
    def decoder(*args):
        if raised is None:
            return None
        raise raised
    monkeypatch.setattr(cv2, 'imdecode', decoder)
    path = tmp_path / 'photo.png'
    path.write_bytes(_pil(Image.fromarray(A), 'PNG'))
    with pytest.raises(ImageError, match='Cannot read image .*photo.png') as err:
        read_image_native(str(path))
    assert isinstance(err.value, OSError)


CORRUPT = [
    ('empty', b'', 'empty'),
    ('text', b'hello, not an image at all', 'not a recognised image'),
    ('gif', _pil(Image.fromarray(A), 'GIF'), 'unsupported image format GIF'),
    ('png truncated', _pil(Image.fromarray(A), 'PNG')[:200], 'not a decodable PNG'),
    ('jpeg truncated', _pil(Image.fromarray(A), 'JPEG')[:300], 'not a decodable JPEG'),
    ('tiff truncated', _pil(Image.fromarray(A), 'TIFF')[:300], 'TIFF'),
    ('webp truncated', _pil(Image.fromarray(A), 'WEBP')[:100], 'WebP'),
    ('png magic only', b'\x89PNG\r\n\x1a\n', 'corrupt or truncated PNG header'),
    ('jpeg without frame', b'\xff\xd8\xff\xd9', 'corrupt or truncated JPEG header'),
    ('tiff float', None, 'float32'),
    ('png zero width', _png_declaring(0, 5), 'empty 0x5'),
]


@pytest.mark.parametrize('name, data, reason', CORRUPT, ids=[c[0] for c in CORRUPT])
def test_real_bad_files_get_clear_errors(name, data, reason, tmp_path):
    if data is None:
        ok, buf = cv2.imencode('.tiff', np.zeros((4, 4), np.float32))
        data = buf.tobytes()
    path = tmp_path / 'f.img'
    path.write_bytes(data)
    with pytest.raises(ImageError, match=reason) as err:
        read_image_native(str(path))
    assert str(path) in str(err.value)
    with pytest.raises(ImageError, match='absent.png: file does not exist'):
        read_image_native(str(tmp_path / 'absent.png'))


# ----------------------------------------------------------------------------- EXIF orientation
@pytest.mark.parametrize('orientation', range(1, 9))
def test_exif_orientation_matches_pillow_and_is_opt_in(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _pil(Image.fromarray(A), 'JPEG', quality=95, exif=exif.tobytes())
    upright = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert('RGB'))
    assert np.array_equal(decode_image(data, exif=True), upright)
    assert np.array_equal(decode_image(data), _pil_rgb(data))  # datasets: as stored
    assert np.array_equal(apply_orientation(A, orientation), apply_orientation(A[:, :, None, :], orientation)[:, :, 0])


@pytest.mark.filterwarnings('ignore:Corrupt EXIF')
def test_unreadable_exif_leaves_the_image_as_stored():
    data = bytearray(_pil(Image.fromarray(A), 'JPEG', exif=b'Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff'))
    assert decode_image(bytes(data), exif=True).shape == (24, 32, 3)


# ----------------------------------------------------------------------------- the readers that use it
def test_paired_dataset_refuses_a_huge_image_before_training(tmp_path):
    from ppuhd.data.paired import PairedImageDataset
    for side in ('lq', 'gt'):
        (tmp_path / side).mkdir()
        image_io.write_image(str(tmp_path / side / 'a.png'), A)
    (tmp_path / 'lq' / 'b.png').write_bytes(_png_declaring(100000, 100000))
    (tmp_path / 'gt' / 'b.png').write_bytes(_png_declaring(100000, 100000))
    with pytest.raises(OSError, match=r'declare more than 134217728 pixels.*b\.png \(100000x100000\)'):
        PairedImageDataset(input_dir=str(tmp_path / 'lq'), gt_dir=str(tmp_path / 'gt'))


def test_classification_dataset_reads_through_the_gate(tmp_path):
    from ppuhd.data.imagefolder import ImageFolderDataset
    for cls in ('cat', 'dog'):
        (tmp_path / 'train' / cls).mkdir(parents=True)
        (tmp_path / 'train' / cls / 'a.webp').write_bytes(_pil(Image.fromarray(A), 'WEBP', lossless=True))
    (tmp_path / 'train' / 'dog' / 'b.jpg').write_bytes(_jpeg_declaring(65500, 65500))
    ds = ImageFolderDataset(str(tmp_path), 'train', {'type': 'ClsEvalTransform', 'img_size': 16})
    assert [s[0].rsplit('/', 2)[1:] for s in ds.samples] == [['cat', 'a.webp'], ['dog', 'a.webp'], ['dog', 'b.jpg']]
    assert ds[0]['image'].shape == (3, 16, 16)
    with pytest.raises(ImageTooLarge, match='b.jpg'):
        ds[2]


def test_written_images_replace_a_symlink_instead_of_following_it(tmp_path):
    victim = tmp_path / 'victim.txt'
    victim.write_text('keep me')
    (tmp_path / 'out.png').symlink_to(victim)
    image_io.write_image(str(tmp_path / 'out.png'), A)
    assert victim.read_text() == 'keep me' and not (tmp_path / 'out.png').is_symlink()
    assert np.array_equal(read_image_native(str(tmp_path / 'out.png')), A)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['out.png', 'victim.txt']  # no temporary file left
