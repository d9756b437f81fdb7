"""Paddle Inference (or ONNX Runtime) predictor for a folder written by ``tools/export.py``.

Preprocessing, padding, tiling and the output meaning come from the folder's
``infer_cfg.yml``; nothing here knows a model by name. Preprocessing runs the project's own
code that the training config names (``ppuhd.data.cls_transforms`` for classifiers; for
image-to-image models the contract ``ppuhd.inference.ImageIO``, Y planes and tiling of
``ppuhd.inference``), so deploy computes what training evaluated.
"""
import dataclasses
import os
import sys
from dataclasses import dataclass
from typing import List, Optional

import numpy as np
import yaml
from PIL import Image

# the repository root, for ppuhd when this file runs from a checkout
sys.path.append(os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))
from ppuhd.inference import ImageIO, TilingConfig, tiled_predict  # noqa: E402
from ppuhd.inference.planes import model_planes, to_rgb  # noqa: E402
from ppuhd.metrics.classification import topk_entries  # noqa: E402
# Paddle Inference 3.3.1 oneDNN pass left out, for speed only: every exported graph also runs under the
# default passes (tests/test_default_client.py; infer_cfg.yml says so, docs/deploy.md explains).
# onednn_placement_pass moves every elementwise op to oneDNN, whose binary kernels fall back to a slow
# reference path when one input is in a conv's blocked layout and the other plain (after an FFT, a gather
# or a pooling). Without it convs and matmuls stay oneDNN (their fusion passes emit oneDNN ops) and the rest
# runs on Paddle's kernels: UHDFour 544x960, 1 thread, 1.60 s -> 1.17 s per image (CPU time, shared machine).
# Must equal ppuhd.engine.export.ONEDNN_SLOW_PASSES, what infer_cfg.yml recommends (tested).
ONEDNN_SKIPPED_PASSES = ('onednn_placement_pass',)
# Classifiers resize the short side and keep the aspect ratio, so the resized image grows with it:
# a 1 x 20000 PNG of 138 bytes would become 256 x 5,120,000 pixels (3.9 GB). Up to this ratio the
# resized image stays below 20 x the square crop (1.3 Mpx at DeiT's 256).
MAX_ASPECT_RATIO = 20


def check_aspect_ratio(h: int, w: int) -> None:
    """Refuse a classifier input whose resize would cost far more than the crop it feeds (DeployError)."""
    if max(h, w) > MAX_ASPECT_RATIO * min(h, w):
        raise DeployError(f'image is {w}x{h}, an aspect ratio over {MAX_ASPECT_RATIO}:1: resizing its short side '
                          f'would make a huge image of which the classifier sees a small crop; crop it first')


class DeployError(ValueError):
    """A deploy option or input this build / model cannot serve; the message says what to do."""


@dataclass
class RunOptions:
    """How to run the model.

    Args:
        device: 'cpu' or 'gpu'.
        backend: 'paddle' (Paddle Inference) or 'onnx' (ONNX Runtime on the exported model.onnx).
        threads: CPU math threads.
        onednn: CPU: use oneDNN kernels and fusions; None (default): what the export recommends for this model
            (``paddle_inference.onednn`` in infer_cfg.yml, on unless the model is slower with it, e.g. EDT),
            always on for bf16.
        precision: 'fp32', or 'bf16' (CPU, oneDNN) / 'fp16' (GPU).
        gpu_id: GPU index.
        gpu_mem_mb: initial GPU memory pool.
        tensorrt: GPU: run supported subgraphs with TensorRT (ops it lacks, e.g. FFT, stay in Paddle).
        trt_precision: 'fp32' or 'fp16'.
        trt_shape_file: tuned dynamic shapes recorded by ``collect_shapes`` (required with tensorrt).
        trt_cache_dir: where TensorRT engines are serialized and reused.
        min_subgraph_size: smallest op count handed to TensorRT.
        collect_shapes: record the input/intermediate shape ranges of the runs into this file.
        onednn_cache: number of input shapes whose oneDNN primitives are cached (bounds memory).
        reuse_memory: keep freed memory in this process for the next tensors (glibc, see
            :func:`keep_freed_memory`): faster on large images, higher peak memory.
    """
    device: str = 'cpu'
    backend: str = 'paddle'
    threads: int = 1
    onednn: Optional[bool] = None
    precision: str = 'fp32'
    gpu_id: int = 0
    gpu_mem_mb: int = 500
    tensorrt: bool = False
    trt_precision: str = 'fp32'
    trt_shape_file: Optional[str] = None
    trt_cache_dir: Optional[str] = None
    min_subgraph_size: int = 3
    collect_shapes: Optional[str] = None
    onednn_cache: int = 4
    reuse_memory: bool = False


def check_options(opts: RunOptions, compiled_with_cuda: bool) -> None:
    """Refuse combinations this build cannot run, with one sentence saying what to do."""
    if opts.device not in ('cpu', 'gpu'):
        raise DeployError(f"--device must be cpu or gpu, got '{opts.device}'")
    if opts.backend not in ('paddle', 'onnx'):
        raise DeployError(f"--backend must be paddle or onnx, got '{opts.backend}'")
    if opts.device == 'gpu' and not compiled_with_cuda:
        raise DeployError('--device gpu needs a GPU build of Paddle (pip install paddlepaddle-gpu); '
                          'this one is CPU-only: use --device cpu')
    if opts.device == 'cpu':
        if opts.tensorrt or opts.trt_shape_file:
            raise DeployError('TensorRT runs on GPU only: add --device gpu (with paddlepaddle-gpu), or drop --trt')
        if opts.precision == 'fp16':
            raise DeployError('fp16 is a GPU precision: on CPU use --precision bf16 (oneDNN) or fp32')
        if opts.precision == 'bf16' and opts.onednn is False:
            raise DeployError('--precision bf16 on CPU runs through oneDNN: remove --no-onednn')
    if opts.device == 'gpu' and opts.precision == 'bf16':
        raise DeployError('bf16 is the CPU (oneDNN) low precision: on GPU use --precision fp16 or --trt-precision fp16')
    if opts.tensorrt and not opts.trt_shape_file:
        raise DeployError('--trt needs dynamic shape ranges: run once with --collect-shapes FILE on sample '
                          'inputs, then pass --trt-shape-file FILE')
    if opts.precision not in ('fp32', 'bf16', 'fp16') or opts.trt_precision not in ('fp32', 'fp16'):
        raise DeployError('--precision is fp32|bf16|fp16 and --trt-precision fp32|fp16')


def keep_freed_memory() -> None:
    """Make this process's allocator (glibc malloc) keep freed memory instead of returning it to the OS.

    glibc serves every allocation above 32 MB with a fresh ``mmap`` and unmaps it on free, so each
    large intermediate tensor is page-faulted and zeroed by the kernel again: at UHD sizes that is
    a large share of the run (UHDFour 4K, Paddle Inference: 18.2 s -> 11.1 s per image with this,
    docs/benchmarks.md). Here large blocks come from the heap and freed ones are reused, at the price
    of fragmentation: a higher peak (3.30 -> 4.85 GB for the same image), never returned until the
    process ends.
    Call it before the first inference. Raises DeployError where malloc is not glibc's.
    (``ppuhd.utils.device.keep_freed_memory(all_sizes=True)``; training uses its bounded default.)
    """
    from ppuhd.utils.device import keep_freed_memory as keep
    if not keep(all_sizes=True):
        raise DeployError('--reuse-memory needs glibc malloc (Linux); remove the option on this system')


def cpu_supports_bf16() -> bool:
    """True when the CPU has native bf16 (AVX512-BF16 or AMX); elsewhere oneDNN bf16 is emulated or refused."""
    try:
        with open('/proc/cpuinfo') as f:
            flags = f.read()
    except OSError:
        return False
    return 'avx512_bf16' in flags or 'amx_bf16' in flags


def load_infer_cfg(model_dir: str) -> dict:
    path = os.path.join(model_dir, 'infer_cfg.yml')
    if not os.path.isfile(path):
        raise DeployError(f'{path} not found: --model-dir must be a folder written by tools/export.py')
    with open(path, encoding='utf-8') as f:
        return yaml.safe_load(f)


def _paddle_config(model_dir: str, cfg: dict, opts: RunOptions):
    from paddle import inference
    config = inference.Config(os.path.join(model_dir, cfg['model_file']), os.path.join(model_dir, cfg['params_file']))
    if opts.device == 'gpu':
        precision = inference.PrecisionType.Half if opts.precision == 'fp16' else inference.PrecisionType.Float32
        config.enable_use_gpu(opts.gpu_mem_mb, opts.gpu_id, precision)
        if opts.tensorrt:
            trt_precision = inference.PrecisionType.Half if opts.trt_precision == 'fp16' else inference.PrecisionType.Float32
            config.enable_tensorrt_engine(workspace_size=1 << 30, max_batch_size=1,
                                          min_subgraph_size=opts.min_subgraph_size, precision_mode=trt_precision,
                                          use_static=bool(opts.trt_cache_dir), use_calib_mode=False)
            config.enable_tuned_tensorrt_dynamic_shape(opts.trt_shape_file, True)
            if opts.trt_cache_dir:
                config.set_optim_cache_dir(opts.trt_cache_dir)
    else:
        config.disable_gpu()
        config.set_cpu_math_library_num_threads(opts.threads)
        if opts.onednn:
            config.enable_onednn()
            config.set_onednn_cache_capacity(opts.onednn_cache)
            for name in ONEDNN_SKIPPED_PASSES:
                config.delete_pass(name)
            if opts.precision == 'bf16':
                config.enable_onednn_bfloat16()
        else:
            config.disable_onednn()
    if opts.collect_shapes:
        config.collect_shape_range_info(opts.collect_shapes)
    # No enable_memory_optim(): it is a legacy-IR pass, and with PIR models (3.3.1) create_predictor fails
    # ("Not find predictor_id 0 and pass_name memory_optimize_pass"); the PIR executor frees dead tensors itself.
    config.disable_glog_info()
    return config


class _PaddleRunner:
    def __init__(self, model_dir: str, cfg: dict, opts: RunOptions):
        from paddle import inference
        self.predictor = inference.create_predictor(_paddle_config(model_dir, cfg, opts))
        self.input = self.predictor.get_input_handle(self.predictor.get_input_names()[0])
        self.output = self.predictor.get_output_handle(self.predictor.get_output_names()[0])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.input.reshape(list(x.shape))
        self.input.copy_from_cpu(x)
        self.predictor.run()
        return self.output.copy_to_cpu()


class _OnnxRunner:
    def __init__(self, model_dir: str, cfg: dict, opts: RunOptions):
        path = os.path.join(model_dir, cfg.get('onnx_file', 'model.onnx'))
        if not os.path.isfile(path):
            raise DeployError(f'{model_dir} has no ONNX model: export with tools/export.py --onnx')
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise DeployError("--backend onnx needs onnxruntime: pip install 'ppuhd[onnx]'") from err
        so = ort.SessionOptions()
        so.intra_op_num_threads = opts.threads
        so.inter_op_num_threads = 1
        providers = ['CUDAExecutionProvider'] if opts.device == 'gpu' else ['CPUExecutionProvider']
        self.session = ort.InferenceSession(path, so, providers=providers)
        self.name = self.session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.name: x})[0]


def to_float_rgb(img: np.ndarray) -> np.ndarray:
    """uint8 / uint16 HWC RGB -> float32 HWC in [0, 1] (divided by the dtype maximum)."""
    scale = np.float32(1.0 / np.iinfo(img.dtype).max)
    return np.multiply(img, scale, dtype=np.float32)


class Predictor:
    """Runs an exported model on numpy images.

    Args:
        model_dir: folder written by ``tools/export.py``.
        opts: how to run it (see :class:`RunOptions`).
    """

    def __init__(self, model_dir: str, opts: Optional[RunOptions] = None):
        self.opts = opts or RunOptions()
        import paddle
        check_options(self.opts, paddle.is_compiled_with_cuda())
        self.cfg = load_infer_cfg(model_dir)
        if self.opts.onednn is None:
            recommended = self.cfg.get('paddle_inference', {}).get('onednn', True)
            self.opts = dataclasses.replace(self.opts, onednn=bool(recommended) or self.opts.precision == 'bf16')
        self.task = self.cfg['task']
        self.image_io = ImageIO.from_dict(self.cfg['image_io']) if 'image_io' in self.cfg else None
        if self.task == 'classification':
            from ppuhd.data.cls_transforms import CLS_TRANSFORMS
            self.transform = CLS_TRANSFORMS.build(self.cfg['preprocess']['transform'])
        if self.opts.reuse_memory:
            keep_freed_memory()
        runner = _OnnxRunner if self.opts.backend == 'onnx' else _PaddleRunner
        self.run = runner(model_dir, self.cfg, self.opts)

    def enhance(self, img: np.ndarray) -> np.ndarray:
        """HWC RGB uint8/uint16 image -> restored HWC float32 RGB (not clamped), ``image_io.scale`` x its size."""
        self._expect('enhancement')
        h, w = img.shape[:2]
        try:
            self.image_io.check_size(h, w, 'image')
        except ValueError as err:
            raise DeployError(str(err)) from err
        rgb = np.ascontiguousarray(to_float_rgb(img).transpose(2, 0, 1)[None])
        out = self.infer(np.ascontiguousarray(model_planes(rgb, self.image_io), dtype=np.float32))
        return to_rgb(out, rgb, self.image_io)[0].transpose(1, 2, 0)

    def output_size(self, h: int, w: int):
        """(H, W) of ``enhance``'s result for an h x w image."""
        return self.image_io.output_size(h, w)

    def infer(self, x: np.ndarray) -> np.ndarray:
        """An NCHW float32 batch of the model's planes through the model; tile by tile when infer_cfg.yml sets
        a tiling."""
        tiling = self.cfg.get('tiling')
        if not (tiling and tiling.get('tile')):
            return self.run(x)
        # models that cannot run a whole UHD image (e.g. LLFormer) go tile by tile, as exported
        return tiled_predict(self.run, x, TilingConfig(**tiling))

    def classify_batch(self, images: List[np.ndarray]) -> np.ndarray:
        """HWC RGB images -> [N, num_classes] scores (logits or probabilities, see infer_cfg output)."""
        self._expect('classification')
        batch = np.stack([self.preprocess_classifier(img) for img in images])
        return self.run(batch)

    def classify(self, img: np.ndarray, topk: int = 5) -> List[dict]:
        """Top-k of one image: [{'index', 'score', 'label'}], best first."""
        return topk_entries(self.classify_batch([img])[0], topk, self.cfg.get('class_names'))

    def preprocess_classifier(self, img: np.ndarray) -> np.ndarray:
        """HWC RGB uint8 (or uint16, rounded to 8 bit) -> CHW float32 by the training config's eval transform."""
        if img.dtype == np.uint16:
            img = np.round(img / 257.0).astype(np.uint8)
        h, w = img.shape[:2]
        check_aspect_ratio(h, w)
        return self.transform(Image.fromarray(np.ascontiguousarray(img[:, :, :3]), 'RGB'))

    def _expect(self, task: str) -> None:
        if self.task != task:
            raise DeployError(f"this is a {self.task} model ({self.cfg['model']}); it cannot do {task}")
