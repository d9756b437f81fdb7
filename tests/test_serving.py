"""The HTTP service over real HTTP on loopback: every endpoint, bad inputs, limits, concurrent load."""
import io
import os
import socket
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from conftest import ROOT

pytest.importorskip('fastapi')
uvicorn = pytest.importorskip('uvicorn')
pytest.importorskip('prometheus_client')
httpx = pytest.importorskip('httpx')
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, 'deploy', 'serving'))
sys.path.insert(0, os.path.join(ROOT, 'deploy', 'python'))
from app import create_app  # noqa: E402
from predictor import Predictor, RunOptions  # noqa: E402

API_KEY = 'test-key'
MAX_PIXELS = 200 * 200
MAX_UPLOAD = 200_000


class _Server:
    """uvicorn in a thread on a free loopback port."""

    def __init__(self, app):
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host='127.0.0.1', port=self.port, log_level='warning'))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            assert time.time() < deadline, 'server did not start'
            time.sleep(0.05)
        self.url = f'http://127.0.0.1:{self.port}'

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope='module')
def service(uhdfour_export):
    app = create_app(uhdfour_export[0], RunOptions(threads=1), pool_size=2, queue_size=8,
                     max_upload_bytes=MAX_UPLOAD, max_pixels=MAX_PIXELS, api_key=API_KEY)
    server = _Server(app)
    yield server.url, app
    server.stop()


@pytest.fixture(scope='module')
def client(service):
    with httpx.Client(base_url=service[0], headers={'X-API-Key': API_KEY}, timeout=120) as c:
        yield c


@pytest.fixture(scope='module')
def direct(uhdfour_export):
    return Predictor(uhdfour_export[0], RunOptions(threads=1))


def _rgb(h=40, w=48, seed=0):
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


def _encode(arr, fmt='PNG', **kw):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **kw)
    return buf.getvalue()


def _expected_png(direct, img):
    return np.clip(direct.enhance(img), 0, 1)


def _decode_png(data):
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)[:, :, ::-1]


def test_healthz_needs_no_key(service):
    r = httpx.get(service[0] + '/healthz')
    assert r.status_code == 200 and r.json()['model'] == 'uhdfour' and r.json()['task'] == 'enhancement'


def test_enhance_raw_body_matches_direct_predictor(client, direct):
    img = _rgb(37, 53)
    r = client.post('/v1/enhance', content=_encode(img), headers={'Content-Type': 'image/png'})
    assert r.status_code == 200 and r.headers['content-type'] == 'image/png'
    got = _decode_png(r.content).astype(np.float32)
    assert got.shape == (37, 53, 3)
    assert np.abs(got - _expected_png(direct, img) * 255).max() <= 1.0


def test_enhance_multipart_and_jpeg_output(client):
    r = client.post('/v1/enhance', params={'format': 'jpeg'}, files={'file': ('a.png', _encode(_rgb()), 'image/png')})
    assert r.status_code == 200 and r.content[:3] == b'\xff\xd8\xff'


@pytest.mark.parametrize('make', [
    lambda img: _encode(img[:, :, 0], 'PNG'),                                      # grayscale
    lambda img: _encode(np.dstack([img, np.full(img.shape[:2], 128, np.uint8)]), 'PNG'),  # RGBA
    lambda img: _encode((img[:, :, 0].astype(np.uint16) * 257), 'PNG'),            # 16-bit grayscale PNG
    lambda img: _encode((img[:, :, 0].astype(np.uint16) * 257), 'TIFF'),           # 16-bit TIFF
    lambda img: _encode(img, 'JPEG', quality=95),
    lambda img: _encode(img, 'BMP'),
], ids=['gray', 'rgba', 'png16', 'tiff16', 'jpeg', 'bmp'])
def test_enhance_accepts_image_kinds(client, make):
    r = client.post('/v1/enhance', content=make(_rgb(40, 48)))
    assert r.status_code == 200, r.text
    assert _decode_png(r.content).shape == (40, 48, 3)


def test_exif_rotated_jpeg_is_turned_upright(client):
    img = _rgb(40, 64)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display after rotating 90 degrees clockwise
    r = client.post('/v1/enhance', content=_encode(img, 'JPEG', exif=exif.tobytes()))
    assert r.status_code == 200
    assert _decode_png(r.content).shape == (64, 40, 3)


def _bomb_png():
    """A valid PNG header declaring 20000 x 20000 pixels, of a few bytes."""
    buf = io.BytesIO()
    Image.new('L', (1, 1)).save(buf, 'PNG')
    data = bytearray(buf.getvalue())
    data[16:24] = (20000).to_bytes(4, 'big') * 2
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, 'big')  # IHDR checksum over type + fields
    return bytes(data)


def _truncated():
    return _encode(_rgb(64, 64), 'PNG')[:300]


BAD_INPUTS = [
    ('empty', b'', {}, 400, 'empty body'),
    ('text', b'hello, this is not an image', {}, 400, 'not a recognised image'),
    ('truncated png', None, {}, 400, 'truncated'),
    ('truncated jpeg', 'jpeg', {}, 400, 'truncated'),
    ('gif', 'gif', {}, 400, 'unsupported image format GIF'),
    ('too many pixels', 'big', {}, 413, 'limit is'),
    ('decompression bomb', 'bomb', {}, 413, 'too many pixels'),
    ('too large upload', b'\x00' * (MAX_UPLOAD + 1), {}, 413, 'limit'),
    ('bad format param', 'ok', {'format': 'webp'}, 400, 'format must be png or jpeg'),
    ('too small image', 'tiny', {}, 400, 'at least 16x16'),
    ('multipart without file', 'form', {}, 400, 'field named "file"'),
    ('png magic then garbage', b'\x89PNG\r\n\x1a\n' + b'\x00' * 64, {}, 400, ''),
    ('jpeg magic only', b'\xff\xd8\xff', {}, 400, ''),
]


def _bad_body(kind):
    img = _rgb(40, 48)
    return {
        None: _truncated(),
        'jpeg': _encode(_rgb(64, 64), 'JPEG')[:400],
        'gif': _encode(img, 'GIF'),
        'big': _encode(np.zeros((201, 201), np.uint8), 'PNG'),
        'bomb': _bomb_png(),
        'ok': _encode(img),
        'tiny': _encode(_rgb(8, 8)),
    }[kind]


@pytest.mark.parametrize('name, body, params, status, reason', BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_inputs_get_clear_4xx(client, name, body, params, status, reason):
    if name == 'multipart without file':
        r = client.post('/v1/enhance', files={'other': ('a.png', _encode(_rgb()), 'image/png')})
    else:
        r = client.post('/v1/enhance', params=params, content=body if isinstance(body, bytes) else _bad_body(body))
    assert r.status_code == status, r.text
    assert reason in r.json()['error']


def test_wrong_or_missing_api_key_is_401(service):
    for headers in ({}, {'X-API-Key': 'nope'}):
        r = httpx.post(service[0] + '/v1/enhance', content=_encode(_rgb()), headers=headers)
        assert r.status_code == 401
    assert httpx.get(service[0] + '/metrics').status_code == 401
    ok = httpx.post(service[0] + '/v1/enhance', content=_encode(_rgb()), headers={'Authorization': f'Bearer {API_KEY}'})
    assert ok.status_code == 200


def test_classify_on_an_enhancement_model_is_404(client):
    r = client.post('/v1/classify', content=_encode(_rgb()))
    assert r.status_code == 404 and 'enhancement model' in r.json()['error']


def test_full_queue_answers_503_with_retry_after(service, client):
    limiter = service[1].state.limiter
    taken = 0
    while limiter.try_acquire():
        taken += 1
    try:
        r = client.post('/v1/enhance', content=_encode(_rgb()))
        assert r.status_code == 503 and r.headers['retry-after'].isdigit()
    finally:
        for _ in range(taken):
            limiter.release()
    assert client.post('/v1/enhance', content=_encode(_rgb())).status_code == 200


def test_concurrent_load_no_5xx_and_correct_outputs(service, direct):
    images = [_rgb(32 + 8 * (i % 3), 40, seed=i) for i in range(4)]
    expected = [_expected_png(direct, img) * 255 for img in images]
    bodies = [_encode(img) for img in images]

    def client_run(cid):
        codes = []
        with httpx.Client(base_url=service[0], headers={'X-API-Key': API_KEY}, timeout=300) as c:
            for i in range(25):
                k = (cid + i) % len(images)
                r = c.post('/v1/enhance', content=bodies[k])
                codes.append(r.status_code)
                if r.status_code == 200:
                    assert np.abs(_decode_png(r.content).astype(np.float32) - expected[k]).max() <= 1.0
        return codes

    with ThreadPoolExecutor(8) as ex:
        codes = [c for cs in ex.map(client_run, range(8)) for c in cs]
    assert len(codes) == 200 and all(c < 500 for c in codes), sorted(set(codes))
    assert codes.count(200) == 200  # capacity (2 running + 8 waiting) covers 8 clients


def test_metrics_report_requests_latency_and_errors(client):
    text = client.get('/metrics').text
    assert 'ppuhd_requests_total{endpoint="enhance",status="200"}' in text
    assert 'ppuhd_request_seconds_bucket{endpoint="enhance",le="0.5"}' in text
    assert 'ppuhd_errors_total{endpoint="enhance",status="413"}' in text
    assert 'ppuhd_busy_slots' in text


@pytest.fixture(scope='module')
def classifier_service(deit_export):
    server = _Server(create_app(deit_export[0], RunOptions(threads=1), pool_size=1, queue_size=2))
    yield server.url
    server.stop()


def test_classify_topk_matches_direct_predictor(classifier_service, deit_export):
    img = _rgb(90, 70, seed=5)
    r = httpx.post(classifier_service + '/v1/classify', params={'topk': 4}, content=_encode(img, 'JPEG', quality=100))
    assert r.status_code == 200
    got = r.json()['topk']
    direct = Predictor(deit_export[0], RunOptions(threads=1))
    expected = direct.classify(np.asarray(Image.open(io.BytesIO(_encode(img, 'JPEG', quality=100)))), topk=4)
    assert [t['index'] for t in got] == [t['index'] for t in expected]
    assert np.allclose([t['score'] for t in got], [t['score'] for t in expected], atol=1e-5)
    assert got[0]['label'].startswith('class')


def test_classifier_service_refuses_bad_topk_and_enhance(classifier_service):
    assert httpx.post(classifier_service + '/v1/classify', params={'topk': 0},
                      content=_encode(_rgb())).status_code == 400
    r = httpx.post(classifier_service + '/v1/enhance', content=_encode(_rgb()))
    assert r.status_code == 404 and 'classification model' in r.json()['error']
    assert httpx.get(classifier_service + '/healthz').json()['task'] == 'classification'
