"""A published network rewritten to MiniFASNet's conventions before it is trained on.

Training, export and the runtime's fused score all assume what MiniFASNet does: BGR patches
with raw 0..255 values, the live class at index 1, and the small set of operators
``facelive.training.onnx_module`` interprets. Another base (facenox's MiniFASNetV2-SE at
128 px: RGB, values / 255, live class 0, a dynamic Shape..Reshape flatten, opset 13) is
brought to those conventions once, exactly: the colour order and the scaling fold into the
first convolution's weights (it has no mean to subtract, so zero padding stays zero), the
final layer's columns are reordered so that live comes second, the flatten becomes one
Flatten node, and the opset is raised. Its outputs do not change, to rounding.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper, version_converter

from facelive.models.manifest import ModelSpec

LIVE_CLASS = 1
OPSET = 17
# A base's manifest input entry once it follows these conventions.
INPUT_COLOUR = "BGR"
INPUT_RANGE = "raw 0..255 float32, no mean, no scaling"

_SHAPE_OPS = {"Shape", "Gather", "Unsqueeze", "Concat", "Constant"}


def follows_conventions(spec: ModelSpec) -> bool:
    return (
        spec.input.colour == INPUT_COLOUR
        and spec.input.divisor == 1.0
        and spec.live_class == LIVE_CLASS
    )


def in_training_conventions(model: onnx.ModelProto, spec: ModelSpec) -> onnx.ModelProto:
    """``model`` (the network of ``spec``) reading BGR 0..255 with live at class 1; a model
    that already does is returned as it is."""
    if follows_conventions(spec):
        return model
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    initializers = {i.name: i for i in graph.initializer}
    readers = [n for n in graph.node if graph.input[0].name in n.input]
    if len(readers) != 1 or readers[0].op_type != "Conv":
        raise ValueError(f"{spec.name}: the input must feed exactly one Conv")
    weight = initializers[readers[0].input[1]]
    kernel = numpy_helper.to_array(weight).astype(np.float64)
    if spec.input.colour == "RGB":
        kernel = kernel[:, ::-1]
    kernel = kernel / spec.input.divisor
    weight.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(kernel, np.float32), weight.name))

    last = graph.node[-1]
    if last.op_type != "MatMul" or last.input[1] not in initializers:
        raise ValueError(f"{spec.name}: the graph must end in a MatMul with a stored weight")
    final = initializers[last.input[1]]
    columns = numpy_helper.to_array(final)
    if spec.live_class is None or columns.shape[1] != 2:
        raise ValueError(f"{spec.name}: only a two-class final layer can be reordered")
    if spec.live_class != LIVE_CLASS:
        columns = columns[:, ::-1]
    final.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(columns), final.name))

    _flatten_reshapes(graph)
    del graph.value_info[:]
    converted = version_converter.convert_version(out, OPSET)
    onnx.checker.check_model(converted)
    return converted


def _flatten_reshapes(graph: onnx.GraphProto) -> None:
    """Every Reshape whose target shape is computed from its input's Shape (PyTorch's export
    of ``x.view(x.size(0), -1)``) becomes ``Flatten(axis=1)``; the shape arithmetic goes."""
    producers = {out: n for n in graph.node for out in n.output}
    dropped: set[int] = set()
    nodes = []
    for node in graph.node:
        if node.op_type == "Reshape" and _shape_of(
            node.input[0], node.input[1], producers, dropped
        ):
            nodes.append(helper.make_node("Flatten", [node.input[0]], list(node.output), axis=1))
        else:
            nodes.append(node)
    kept = [n for n in nodes if id(n) not in dropped]
    del graph.node[:]
    graph.node.extend(kept)
    used = {name for n in graph.node for name in n.input}
    initializers = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def _shape_of(data: str, name: str, producers: dict[str, onnx.NodeProto], found: set[int]) -> bool:
    """Whether ``name`` is computed from ``data``'s Shape by shape arithmetic alone (constants
    aside); if so its nodes join ``found``."""
    chain: set[int] = set()
    shapes = 0
    pending = [name]
    while pending:
        node = producers.get(pending.pop())
        if node is None:
            continue  # an initializer: a constant
        if node.op_type not in _SHAPE_OPS:
            return False
        chain.add(id(node))
        if node.op_type == "Shape":
            if node.input[0] != data:
                return False
            shapes += 1
        else:
            pending.extend(i for i in node.input if i)
    if not shapes:
        return False
    found |= chain
    return True
