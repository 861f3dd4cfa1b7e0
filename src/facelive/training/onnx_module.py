"""An ONNX graph as a trainable PyTorch module, and its weights written back into the graph.

MiniFASNet's ONNX export uses a handful of operators (Conv, PRelu, Add, BatchNormalization,
MatMul, Flatten, GlobalAveragePool, Relu, Sigmoid, Mul). Interpreting the graph node by node
keeps the exact upstream architecture without a hand-written copy of it; after training, the
parameters go back into the same graph, so the runtime loads the result like any other model.
BatchNormalization always uses its stored statistics (it sits after the final linear layer,
where batch statistics of small CPU batches would only add noise).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F  # noqa: N812
from onnx import numpy_helper
from torch import nn

_SUPPORTED = {
    "Conv",
    "PRelu",
    "Add",
    "BatchNormalization",
    "MatMul",
    "Flatten",
    "GlobalAveragePool",
    "Relu",
    "Sigmoid",
    "Mul",
}


def _key(name: str) -> str:
    return "p" + "".join(c if c.isalnum() else "_" for c in name)


class OnnxModule(nn.Module):
    """Runs ``model``'s graph in PyTorch; every float initializer is a trainable parameter."""

    def __init__(self, model: onnx.ModelProto) -> None:
        super().__init__()
        graph = model.graph
        unsupported = {n.op_type for n in graph.node} - _SUPPORTED
        if unsupported:
            raise ValueError(f"unsupported ONNX operators: {sorted(unsupported)}")
        self.params = nn.ParameterDict()
        self._names: dict[str, str] = {}
        for init in graph.initializer:
            array = numpy_helper.to_array(init).astype(np.float32)
            self._names[init.name] = _key(init.name)
            self.params[_key(init.name)] = nn.Parameter(torch.from_numpy(array.copy()))
        self._nodes = [
            (
                n.op_type,
                list(n.input),
                list(n.output),
                {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute},
            )
            for n in graph.node
        ]
        self._input = graph.input[0].name
        self._output = graph.output[0].name

    def forward(self, x: torch.Tensor, output: str | None = None) -> torch.Tensor:
        """The graph's output, or the tensor named ``output`` inside it."""
        wanted = output or self._output
        values: dict[str, torch.Tensor] = {self._input: x}
        for name, key in self._names.items():
            values[name] = self.params[key]
        for op, inputs, outputs, attrs in self._nodes:
            args = [values[i] for i in inputs if i]
            values[outputs[0]] = _run(op, args, attrs)
            if outputs[0] == wanted:
                break
        return values[wanted]

    def parameter(self, initializer: str) -> torch.Tensor:
        """The trainable tensor behind the graph initializer named ``initializer``."""
        param: torch.Tensor = self.params[self._names[initializer]]
        return param

    def write_back(self, model: onnx.ModelProto) -> onnx.ModelProto:
        """A copy of ``model`` with this module's current parameters as its initializers."""
        out = onnx.ModelProto()
        out.CopyFrom(model)
        for init in out.graph.initializer:
            array = self.params[self._names[init.name]].detach().cpu().numpy()
            init.CopyFrom(numpy_helper.from_array(array.astype(np.float32), init.name))
        return out


def _run(op: str, args: list[torch.Tensor], attrs: dict[str, Any]) -> torch.Tensor:
    if op == "Conv":
        pads = attrs.get("pads", [0, 0, 0, 0])
        if pads[0] != pads[2] or pads[1] != pads[3]:
            raise ValueError("asymmetric Conv padding is not supported")
        return F.conv2d(
            args[0],
            args[1],
            args[2] if len(args) > 2 else None,
            stride=tuple(attrs.get("strides", [1, 1])),
            padding=(pads[0], pads[1]),
            dilation=tuple(attrs.get("dilations", [1, 1])),
            groups=int(attrs.get("group", 1)),
        )
    if op == "PRelu":
        slope = args[1]
        return torch.where(args[0] >= 0, args[0], args[0] * slope)
    if op == "Add":
        return args[0] + args[1]
    if op == "Mul":
        return args[0] * args[1]
    if op == "MatMul":
        return args[0] @ args[1]
    if op == "Flatten":
        return torch.flatten(args[0], int(attrs.get("axis", 1)))
    if op == "GlobalAveragePool":
        return args[0].mean(dim=(2, 3), keepdim=True)
    if op == "Relu":
        return torch.relu(args[0])
    if op == "Sigmoid":
        return torch.sigmoid(args[0])
    if op == "BatchNormalization":
        x, scale, bias, mean, var = args
        eps = float(attrs.get("epsilon", 1e-5))
        return (x - mean.detach()) / torch.sqrt(var.detach() + eps) * scale + bias
    raise ValueError(f"unsupported ONNX operator {op}")
