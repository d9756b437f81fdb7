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
from server import server_config  # noqa: E402
from ppuhd.utils.image_io import decode_image  # noqa: E402

API_KEY = 'test-key'
MAX_PIXELS = 200 * 200
MAX_UPLOAD = 200_000


class _Server:
    """uvicorn in a thread on a free loopback port."""

    def __init__(self, app, **limits):
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(server_config(app, '127.0.0.1', self.port, log_level='warning', **limits))
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
    return _save(Image.fromarray(arr), fmt, **kw)


def _save(img, fmt='PNG', **kw):
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
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


# ------------------------------------------------------------------ formats, framework errors, one error shape
@pytest.mark.parametrize('make', [
    lambda img: _encode(img, 'MPO', save_all=True, append_images=[Image.fromarray(255 - img)]),
    lambda img: _save(Image.fromarray(img).convert('CMYK'), 'JPEG', quality=95),
    lambda img: _encode(img, 'JPEG', quality=90, progressive=True),
    lambda img: _encode(img, 'WEBP', lossless=True),
    lambda img: _encode(img, 'TIFF', save_all=True, append_images=[Image.fromarray(255 - img)]),
], ids=['mpo', 'cmyk', 'progressive', 'webp', 'tiff-pages'])
def test_enhance_accepts_the_formats_of_the_image_gate(client, direct, make):
    img = _rgb(40, 48)
    data = make(img)
    r = client.post('/v1/enhance', content=data)
    assert r.status_code == 200, r.text
    expected = _expected_png(direct, decode_image(data, exif=True)) * 255  # what deploy/python/infer.py computes
    assert np.abs(_decode_png(r.content).astype(np.float32) - expected).max() <= 1.0


def _multipart(parts, boundary='XyZ'):
    body = b''.join(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}.png"\r\n'
                    f'Content-Type: image/png\r\n\r\n'.encode() + data + b'\r\n' for name, data in parts)
    return body + f'--{boundary}--\r\n'.encode()


def test_multipart_in_any_letter_case(client):
    for ctype in ('Multipart/Form-Data; boundary=XyZ', 'MULTIPART/FORM-DATA; BOUNDARY=XyZ'):
        r = client.post('/v1/enhance', content=_multipart([('file', _encode(_rgb()))]), headers={'Content-Type': ctype})
        assert r.status_code == 200, (ctype, r.text)


def _error_of(r, status):
    assert r.status_code == status, r.text
    assert set(r.json()) == {'error'}, r.text
    return r.json()['error']


def test_every_error_has_one_body_shape(client):
    two = _multipart([('file', _encode(_rgb())), ('file', _encode(_rgb()))])
    assert 'Too many files' in _error_of(client.post('/v1/enhance', content=two, headers={
        'Content-Type': 'multipart/form-data; boundary=XyZ'}), 400)
    assert 'boundary' in _error_of(client.post('/v1/enhance', content=b'x', headers={
        'Content-Type': 'multipart/form-data'}), 400)
    _error_of(client.get('/v1/nothing'), 404)
    _error_of(client.get('/v1/enhance'), 405)
    assert 'topk' in _error_of(client.post('/v1/classify', params={'topk': 'many'}, content=b'x'), 422)


def test_openapi_schema_is_not_served(service, client):
    for path in ('/openapi.json', '/docs', '/redoc'):
        assert client.get(path).status_code == 404
        assert httpx.get(service[0] + path).status_code == 404


def test_host_header_must_name_this_server(service):
    port = service[0].rsplit(':', 1)[1]
    evil = httpx.get(service[0] + '/healthz', headers={'Host': f'attacker.example:{port}'})
    assert 'attacker.example' in _error_of(evil, 400) and '--allowed-host' in evil.json()['error']
    for host in (f'localhost:{port}', f'127.0.0.1:{port}', 'LOCALHOST'):
        assert httpx.get(service[0] + '/healthz', headers={'Host': host}).status_code == 200


def _raw(port, data, close_after=True):
    s = socket.create_connection(('127.0.0.1', port), timeout=10)
    s.sendall(data)
    if close_after:
        s.close()
    return s


def _metric(client, name, **labels):
    want = name + '{' + ','.join(f'{k}="{v}"' for k, v in labels.items()) + '}'
    for line in client.get('/metrics').text.splitlines():
        if line.startswith(want + ' '):
            return float(line.split()[-1])
    return 0.0


def test_metrics_count_500s_framework_errors_and_disconnects(service, client, monkeypatch):
    before = {s: _metric(client, 'ppuhd_requests_total', endpoint='enhance', status=s) for s in (500, 499, 400, 405)}
    enhance = Predictor.enhance

    def fails_on_17_rows(self, img):
        if img.shape[0] == 17:
            raise RuntimeError('a kernel failed')
        return enhance(self, img)
    monkeypatch.setattr(Predictor, 'enhance', fails_on_17_rows)
    r = client.post('/v1/enhance', content=_encode(_rgb(17, 40)))
    assert 'internal server error (RuntimeError)' in _error_of(r, 500)
    client.get('/v1/enhance')
    client.post('/v1/enhance', content=b'x', headers={'Content-Type': 'multipart/form-data'})
    port = int(service[0].rsplit(':', 1)[1])
    # a client that promises 100000 bytes, sends 10 and hangs up
    _raw(port, b'POST /v1/enhance HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ' + API_KEY.encode() +
         b'\r\nContent-Length: 100000\r\n\r\n' + b'\x89PNG\r\n\x1a\n\x00\x00')
    deadline = time.time() + 10
    while _metric(client, 'ppuhd_requests_total', endpoint='enhance', status=499) == before[499]:
        assert time.time() < deadline, 'the disconnect was not counted'
        time.sleep(0.05)
    after = {s: _metric(client, 'ppuhd_requests_total', endpoint='enhance', status=s) for s in before}
    assert {s: after[s] - before[s] for s in before} == {500: 1, 499: 1, 400: 1, 405: 1}
    ok = _metric(client, 'ppuhd_requests_total', endpoint='enhance', status=200)
    assert client.post('/v1/enhance', content=_encode(_rgb())).status_code == 200
    assert _metric(client, 'ppuhd_requests_total', endpoint='enhance', status=200) == ok + 1


def test_startup_warns_off_loopback_without_key_and_passes_the_limits(uhdfour_export, monkeypatch, capsys):
    import server
    started = []
    monkeypatch.setattr(server.uvicorn.Server, 'run', lambda self: started.append(self.config))
    monkeypatch.delenv('PPUHD_API_KEY', raising=False)
    server.main(['--model-dir', uhdfour_export[0], '--host', '0.0.0.0', '--threads', '1', '--header-timeout', '3',
                 '--max-connections', '7'])
    assert 'WARNING: binding 0.0.0.0' in capsys.readouterr().err and 'PPUHD_API_KEY' in server.startup_warnings(
        '0.0.0.0', None, ['localhost'])[0]
    config = started[0]
    assert config.host == '0.0.0.0' and config.h11_max_incomplete_event_size == 16 << 10 and config.ws == 'none'
    assert issubclass(config.http, server.H11Protocol) and config.timeout_keep_alive == 5
    assert not server.startup_warnings('127.0.0.1', None, ['localhost'])
    assert not server.startup_warnings('0.0.0.0', 'key', ['localhost'])
    assert 'DNS rebinding' in server.startup_warnings('127.0.0.1', None, ['*'])[0]
    assert server.default_allowed_hosts('0.0.0.0') == ['127.0.0.1', 'localhost', '::1']
    assert server.default_allowed_hosts('10.1.2.3')[-1] == '10.1.2.3'


def _thin_png(w, h):
    buf = io.BytesIO()
    Image.new('L', (w, h), 90).save(buf, 'PNG')
    return buf.getvalue()


def test_classifier_cost_is_bounded_by_the_aspect_ratio(classifier_service):
    for w, h in ((20000, 1), (1_000_000, 1), (3, 200), (8_000_000, 1)):
        tic = time.perf_counter()
        r = httpx.post(classifier_service + '/v1/classify', content=_thin_png(w, h), timeout=60)
        reason = _error_of(r, 400)
        assert time.perf_counter() - tic < 5
        # libpng itself refuses widths over 1,000,000: either way a 400 with the reason, never a 500
        assert 'aspect ratio' in reason or (w > 1_000_000 and 'not a decodable PNG' in reason), reason
    assert httpx.post(classifier_service + '/v1/classify', content=_thin_png(200, 10)).status_code == 200  # 20:1
