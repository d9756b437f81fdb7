"""RGB <-> YCbCr (ITU-R BT.601, "studio swing"), as MATLAB's ``rgb2ycbcr`` / ``ycbcr2rgb`` and BasicSR.

Values are in [0, 1] on both sides (Y in [16, 235] / 255, Cb and Cr in [16, 240] / 255). The channel
axis is 1 (NCHW), and the functions take numpy arrays and Paddle tensors alike (only slicing,
multiplication, addition and concatenation by the caller), so training, prediction and deploy share
one definition. Y-channel models (``ImageIO(channels='y')``, e.g. ESPCN) run on Y; their RGB output is
the model's Y with the bicubic-upscaled Cb and Cr of the input, as in ESPCN's paper.
"""
import numpy as np

# rows Y, Cb, Cr over R, G, B in [0, 1], on the [0, 255] scale (BasicSR color_util.rgb2ycbcr, MATLAB rgb2ycbcr)
_FORWARD = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]])
_OFFSET = np.array([16.0, 128.0, 128.0])
# its exact inverse (MATLAB ycbcr2rgb inverts the same matrix; BasicSR rounds it to 6 digits)
_INVERSE = np.linalg.inv(_FORWARD)


def _planes(x):
    return [x[:, c:c + 1] for c in range(3)]


def rgb_to_ycbcr(x):
    """[N, 3, H, W] RGB in [0, 1] -> [Y, Cb, Cr], each [N, 1, H, W] in [0, 1]."""
    r, g, b = _planes(x)
    return [(r * float(w[0]) + g * float(w[1]) + b * float(w[2]) + float(o)) / 255.0
            for w, o in zip(_FORWARD, _OFFSET)]


def rgb_to_luma(x):
    """The Y plane [N, 1, H, W] of an RGB [N, 3, H, W] batch in [0, 1]."""
    r, g, b = _planes(x)
    w = _FORWARD[0]
    return (r * float(w[0]) + g * float(w[1]) + b * float(w[2]) + float(_OFFSET[0])) / 255.0


def ycbcr_to_rgb(y, cb, cr):
    """Y, Cb, Cr planes [N, 1, H, W] in [0, 1] -> [R, G, B] planes (not clipped)."""
    centred = [y * 255.0 - float(_OFFSET[0]), cb * 255.0 - float(_OFFSET[1]), cr * 255.0 - float(_OFFSET[2])]
    return [sum(p * float(w) for p, w in zip(centred, row)) for row in _INVERSE]
