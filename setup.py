"""ppuhd: PaddlePaddle reproductions of ViT/DeiT, UHDFour and LLFormer.

PaddlePaddle is deliberately not in install_requires: install ``paddlepaddle`` (CPU)
or ``paddlepaddle-gpu`` yourself (``make`` does it for you in a local virtualenv).
"""
from setuptools import find_packages, setup


def _requirements(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith(('#', '-r'))]


setup(
    name='ppuhd',
    version='0.1.0',
    description='PaddlePaddle reproductions of ViT/DeiT, UHDFour and LLFormer',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['ppuhd', 'ppuhd.*']),
    python_requires='>=3.9',
    install_requires=_requirements('requirements.txt'),
    extras_require={
        'dev': ['pytest', 'nbclient==0.11.0', 'nbformat==5.11.1', 'ipykernel==7.4.0', 'matplotlib==3.11.2'],
        'torch': ['torch'],  # only for tools/convert_weights.py on official .pth files
        # deploy/serving (HTTP service) and tools/export.py --onnx / deploy --backend onnx
        'serve': ['fastapi==0.163.2', 'uvicorn==0.54.0', 'python-multipart==0.0.34', 'prometheus-client==0.26.0',
                  'pillow==13.0.0'],
        'onnx': ['paddle2onnx==2.1.0', 'onnxruntime==1.31.1'],
        'parity': ['torch', 'einops==0.8.2'],  # tests/test_official_parity_llformer.py imports the official model
    },
    license='Apache-2.0',
)
