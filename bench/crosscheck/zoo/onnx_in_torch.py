"""OnnxInTorch for the zoo: runs an exported ONNX graph's nodes with torch, every float
initializer a parameter (except BatchNormalization running statistics, frozen), so PyTorch can
fine-tune "the same model from the same weights" as `fromOnnx` imports it.

Extends tests/fixtures/make_onnx_fixtures.py's OnnxInTorch to the ops of the zoo's exports
(opsets 17 and 18+: attributes that became inputs, Split's num_outputs, local functions) and
mirrors `fromOnnx(..., {shared: "untie"})`: exporter constants frozen as fromOnnx's default
(`train_all=True`: every float initializer trains, as `trainable: true`); a trainable initializer feeding several nodes trains
one copy per consuming node (the first consumer keeps the original; a node reading it through an
Identity alias trains the copy under the alias's name).
"""
import math
import re

import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPES = {1: torch.float32, 2: torch.uint8, 3: torch.int8, 5: torch.int16, 6: torch.int32,
          7: torch.int64, 9: torch.bool, 10: torch.float16, 11: torch.float64,
          16: torch.bfloat16}


EXPORTER_NAME = re.compile(r"^(val_\d+|onnx::)|_(cast|\d+)$|/")


def exporter_constant(name, t):
    """fromOnnx's default (lower_onnx.ts exporterConstants): one-element float tensors with an
    exporter's name (`val_70`, `min_val_cast`, `onnx::Mul_12`) and tensors holding non-finite or
    ±3.4e38-scale values (attention masks) are frozen unless `trainable: true`."""
    if t.dtype != torch.float32:
        return False
    if t.numel() <= 1 and EXPORTER_NAME.search(name):
        return True
    return bool((~torch.isfinite(t) | (t.abs() >= 1e30)).any())


def attrs_of(node):
    out = {}
    for a in node.attribute:
        if a.ref_attr_name:
            out[a.name] = ("ref", a.ref_attr_name)
        else:
            out[a.name] = onnx.helper.get_attribute_value(a)
    return out


def to_torch(proto):
    return torch.from_numpy(onnx.numpy_helper.to_array(proto).copy())


def ints(t):
    return [int(v) for v in (t.flatten().tolist() if isinstance(t, torch.Tensor) else t)]


def onnx_slice_indices(start, end, step, dim):
    if start < 0:
        start += dim
    if end < 0:
        end += dim
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
    else:
        start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    return start, end


def pool_pads(x, a, nd, value):
    """Applies ONNX pads (begin..., end...) explicitly; returns the padded input."""
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise NotImplementedError(f"auto_pad {a['auto_pad']}")
    p = a.get("pads", [0] * 2 * nd)
    if not any(p):
        return x
    tp = []
    for i in reversed(range(nd)):
        tp += [p[i], p[i + nd]]
    return F.pad(x, tp, value=value)


class OnnxInTorch(nn.Module):
    """Runs an exported graph's nodes with torch; float initializers are parameters."""

    def __init__(self, model, train_all=False):
        super().__init__()
        self.model = model
        self.graph = model.graph
        self.functions = {(f.domain, f.name): f for f in model.functions}
        self.params = nn.ParameterDict()
        self.consts = {}
        self.names = {}  # param name (fromOnnx's) -> ParameterDict key
        self.node_inputs = []  # per node: input names after untying
        self.attrs = [attrs_of(n) for n in self.graph.node]
        stats = {i for n in self.graph.node if n.op_type == "BatchNormalization"
                 for i in n.input[3:5]}
        inits = {}
        for init in self.graph.initializer:
            t = to_torch(init)
            inits[init.name] = t
            if (t.dtype == torch.float32 and init.name not in stats
                    and (train_all or not exporter_constant(init.name, t))):
                self.add(init.name, t)
            else:
                self.consts[init.name] = t
        init_names = set(inits)
        self.inputs = [v.name for v in self.graph.input if v.name not in init_names]
        # Untie (as fromOnnx's lower_onnx.ts): a node reading a trainable initializer through an
        # exporter's Identity alias trains a copy under the alias's name; the k-th further node
        # reading it directly (k > 0) trains a copy named `name.untiedK`.
        alias = {n.output[0]: n.input[0] for n in self.graph.node
                 if n.op_type == "Identity" and n.input[0] in self.names}
        direct = {}
        for n in self.graph.node:
            names = list(n.input)
            if n.op_type == "Identity" and n.output[0] in alias:
                self.node_inputs.append(names)
                continue
            for j, name in enumerate(names):
                if name in alias:
                    if name not in self.names:
                        self.add(name, inits[alias[name]].clone())
                elif name in self.names and name in inits:
                    users = direct.setdefault(name, [])
                    if n.name not in users or not n.name:
                        users.append(n.name)
                    k = len(users) - 1 if not n.name else users.index(n.name)
                    if k:
                        copy = f"{name}.untied{k}"
                        if copy not in self.names:
                            self.add(copy, inits[name].clone())
                        names[j] = copy
            self.node_inputs.append(names)

    def add(self, name, t):
        key = f"p{len(self.names)}"
        self.names[name] = key
        self.params[key] = nn.Parameter(t)

    def named(self):
        """fromOnnx's parameter name → torch Parameter."""
        return {name: self.params[key] for name, key in self.names.items()}

    def forward(self, *xs):
        env = dict(zip(self.inputs, xs))
        for name, key in self.names.items():
            env[name] = self.params[key]
        env.update(self.consts)
        for node, names, a in zip(self.graph.node, self.node_inputs, self.attrs):
            if node.op_type == "Identity" and node.output[0] in self.names:
                continue  # an untied alias, already a parameter
            self.run_node(node, names, a, env)
        return env[self.graph.output[0].name]

    def run_function(self, f, node, ins, a):
        env = {formal: v for formal, v in zip(f.input, ins)}
        defaults = {at.name: onnx.helper.get_attribute_value(at) for at in f.attribute_proto}
        for name in f.attribute:
            defaults.setdefault(name, None)
        fa = {**defaults, **a}
        for n in f.node:
            na = attrs_of(n)
            na = {k: (fa[v[1]] if isinstance(v, tuple) and v and v[0] == "ref" else v)
                  for k, v in na.items()}
            na = {k: v for k, v in na.items() if v is not None}
            self.run_node(n, list(n.input), na, env)
        return [env[o] for o in f.output]

    def run_node(self, node, names, a, env):
        ins = [env[i] if i else None for i in names]
        op = node.op_type
        f = self.functions.get((node.domain, op))
        if f is not None:
            for o, v in zip(node.output, self.run_function(f, node, ins, a)):
                env[o] = v
            return
        if node.domain not in ("", "ai.onnx"):
            raise NotImplementedError(f"{node.domain}::{op}")
        y = self.compute(op, ins, a, node)
        if isinstance(y, (list, tuple)):
            for o, v in zip(node.output, y):
                if o:
                    env[o] = v
        else:
            env[node.output[0]] = y

    def compute(self, op, ins, a, node):  # noqa: C901 - one branch per op
        x = ins[0] if ins else None
        if op == "Gemm":
            A, B = ins[0], ins[1]
            if a.get("transA", 0):
                A = A.t()
            if a.get("transB", 0):
                B = B.t()
            y = a.get("alpha", 1.0) * (A @ B)
            if len(ins) > 2 and ins[2] is not None:
                y = y + a.get("beta", 1.0) * ins[2]
            return y
        if op == "MatMul":
            return ins[0] @ ins[1]
        if op in ("Add", "Sub", "Mul", "Div", "Pow", "Mod", "Equal", "Less", "LessOrEqual",
                  "Greater", "GreaterOrEqual", "And", "Or", "Xor"):
            p, q = ins
            if op == "Add":
                return p + q
            if op == "Sub":
                return p - q
            if op == "Mul":
                return p * q
            if op == "Div":
                if not p.is_floating_point():
                    return torch.div(p, q, rounding_mode="trunc")
                return p / q
            if op == "Pow":
                return torch.pow(p, q).to(p.dtype)
            if op == "Mod":
                return torch.fmod(p, q) if a.get("fmod", 0) else torch.remainder(p, q)
            return {"Equal": torch.eq, "Less": torch.lt, "LessOrEqual": torch.le,
                    "Greater": torch.gt, "GreaterOrEqual": torch.ge, "And": torch.logical_and,
                    "Or": torch.logical_or, "Xor": torch.logical_xor}[op](p, q)
        unary = {"Relu": F.relu, "Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "Erf": torch.erf,
                 "Sqrt": torch.sqrt, "Exp": torch.exp, "Log": torch.log, "Neg": torch.neg,
                 "Abs": torch.abs, "Reciprocal": torch.reciprocal, "Floor": torch.floor,
                 "Ceil": torch.ceil, "Sin": torch.sin, "Cos": torch.cos, "Sign": torch.sign,
                 "Not": torch.logical_not, "IsNaN": torch.isnan, "Softplus": F.softplus,
                 "Round": torch.round, "Mish": F.mish}
        if op in unary:
            return unary[op](x)
        if op == "IsInf":
            return torch.isinf(x)
        if op == "LeakyRelu":
            return F.leaky_relu(x, a.get("alpha", 0.01))
        if op == "Elu":
            return F.elu(x, a.get("alpha", 1.0))
        if op == "HardSigmoid":
            return torch.clamp(a.get("alpha", 0.2) * x + a.get("beta", 0.5), 0, 1)
        if op == "HardSwish":
            return x * torch.clamp(x / 6 + 0.5, 0, 1)
        if op == "Gelu":
            return F.gelu(x, approximate=_s(a.get("approximate", "none")))
        if op == "Clip":
            lo = ins[1] if len(ins) > 1 and ins[1] is not None else None
            hi = ins[2] if len(ins) > 2 and ins[2] is not None else None
            y = x
            if lo is not None:
                y = torch.maximum(y, lo.to(y.dtype))
            if hi is not None:
                y = torch.minimum(y, hi.to(y.dtype))
            return y
        if op in ("Max", "Min", "Sum", "Mean"):
            y = ins[0]
            for v in ins[1:]:
                y = {"Max": torch.maximum, "Min": torch.minimum}.get(op, torch.add)(y, v)
            return y / len(ins) if op == "Mean" else y
        if op == "Where":
            return torch.where(ins[0], ins[1], ins[2])
        if op == "Flatten":
            ax = a.get("axis", 1) % max(x.dim(), 1) if x.dim() else 0
            return x.reshape(math.prod(x.shape[:ax]), -1)
        if op in ("Conv",):
            w, b = ins[1], ins[2] if len(ins) > 2 else None
            nd = w.dim() - 2
            xp = pool_pads(x, a, nd, 0.0)
            conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
            return conv(xp, w, b, stride=a.get("strides", [1] * nd),
                        dilation=a.get("dilations", [1] * nd), groups=a.get("group", 1))
        if op in ("MaxPool", "AveragePool"):
            nd = x.dim() - 2
            k = a["kernel_shape"]
            s = a.get("strides", [1] * nd)
            p = a.get("pads", [0] * 2 * nd)
            ceil = bool(a.get("ceil_mode", 0))
            sym = p[:nd] == p[nd:]
            if op == "MaxPool":
                d = a.get("dilations", [1] * nd)
                if len(node.output) > 1 and node.output[1]:
                    raise NotImplementedError("MaxPool indices")
                fn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[nd]
                if sym:
                    return fn(x, k, s, p[:nd], d, ceil_mode=ceil)
                return fn(pool_pads(x, a, nd, -math.inf), k, s, 0, d, ceil_mode=ceil)
            fn = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[nd]
            cip = bool(a.get("count_include_pad", 0))
            if sym:
                return fn(x, k, s, p[:nd], ceil_mode=ceil, count_include_pad=cip)
            if not cip:
                raise NotImplementedError("AveragePool asymmetric pads without count_include_pad")
            return fn(pool_pads(x, a, nd, 0.0), k, s, 0, ceil_mode=ceil)
        if op in ("GlobalAveragePool", "GlobalMaxPool"):
            dims = tuple(range(2, x.dim()))
            return x.mean(dim=dims, keepdim=True) if op == "GlobalAveragePool" else x.amax(
                dim=dims, keepdim=True)
        if op == "BatchNormalization":
            return F.batch_norm(x, ins[3].detach(), ins[4].detach(), ins[1], ins[2], False, 0.0,
                                a.get("epsilon", 1e-5))
        if op == "InstanceNormalization":
            return F.instance_norm(x, weight=ins[1], bias=ins[2], eps=a.get("epsilon", 1e-5))
        if op == "GroupNormalization":
            g = a["num_groups"]
            n, c = x.shape[:2]
            xs = x.reshape(n, g, -1)
            mean = xs.mean(-1, keepdim=True)
            var = xs.var(-1, unbiased=False, keepdim=True)
            xs = ((xs - mean) / torch.sqrt(var + a.get("epsilon", 1e-5))).reshape(x.shape)
            shape = [1, c] + [1] * (x.dim() - 2)
            scale, bias = ins[1], ins[2]
            if scale.numel() == g and g != c:  # opset 18: per-group scale and bias
                scale = scale.repeat_interleave(c // g)
                bias = bias.repeat_interleave(c // g)
            return xs * scale.reshape(shape) + bias.reshape(shape)
        if op == "LayerNormalization":
            ax = a.get("axis", -1) % x.dim()
            return F.layer_norm(x, x.shape[ax:], ins[1], ins[2] if len(ins) > 2 else None,
                                a.get("epsilon", 1e-5))
        if op in ("Identity", "Dropout"):
            if op == "Dropout" and len(node.output) > 1:
                return [x, torch.ones_like(x, dtype=torch.bool)]
            return x
        if op in ("Softmax", "LogSoftmax"):
            ax = a.get("axis", -1)
            return torch.softmax(x, ax) if op == "Softmax" else torch.log_softmax(x, ax)
        if op == "Transpose":
            perm = a.get("perm", list(reversed(range(x.dim()))))
            return x.permute(*perm)
        if op.startswith("Reduce"):
            axes = None
            if len(ins) > 1 and ins[1] is not None:
                axes = ints(ins[1])
            elif "axes" in a:
                axes = list(a["axes"])
            keep = bool(a.get("keepdims", 1))
            if not axes:
                if a.get("noop_with_empty_axes", 0):
                    return x
                axes = list(range(x.dim()))
            axes = tuple(v % x.dim() for v in axes) if x.dim() else ()
            if op == "ReduceMean":
                return x.mean(dim=axes, keepdim=keep)
            if op == "ReduceSum":
                return x.sum(dim=axes, keepdim=keep)
            if op == "ReduceMax":
                return x.amax(dim=axes, keepdim=keep)
            if op == "ReduceMin":
                return x.amin(dim=axes, keepdim=keep)
            if op == "ReduceProd":
                y = x
                for ax in sorted(axes, reverse=True):
                    y = y.prod(dim=ax, keepdim=keep)
                return y
            if op == "ReduceL2":
                return torch.sqrt((x * x).sum(dim=axes, keepdim=keep))
            if op == "ReduceSumSquare":
                return (x * x).sum(dim=axes, keepdim=keep)
            if op == "ReduceLogSumExp":
                return torch.logsumexp(x, dim=axes, keepdim=keep)
            raise NotImplementedError(op)
        if op in ("ArgMax", "ArgMin"):
            ax = a.get("axis", 0)
            fn = torch.argmax if op == "ArgMax" else torch.argmin
            return fn(x, dim=ax, keepdim=bool(a.get("keepdims", 1)))
        if op == "Constant":
            if "value" in a:
                return to_torch(a["value"])
            if "value_float" in a:
                return torch.tensor(a["value_float"], dtype=torch.float32)
            if "value_floats" in a:
                return torch.tensor(list(a["value_floats"]), dtype=torch.float32)
            if "value_int" in a:
                return torch.tensor(a["value_int"], dtype=torch.int64)
            if "value_ints" in a:
                return torch.tensor(list(a["value_ints"]), dtype=torch.int64)
            raise NotImplementedError(f"Constant {list(a)}")
        if op == "ConstantOfShape":
            v = to_torch(a["value"]) if "value" in a else torch.zeros(1)
            return torch.full(ints(x), v.flatten()[0].item(), dtype=v.dtype)
        if op == "Shape":
            shape = list(x.shape)
            start, end = a.get("start", 0), a.get("end", None)
            return torch.tensor(shape[start:end] if end is not None else shape[start:],
                                dtype=torch.int64)
        if op == "Size":
            return torch.tensor(x.numel(), dtype=torch.int64)
        if op == "Gather":
            ax = a.get("axis", 0) % x.dim()
            idx = ins[1]
            idx = torch.where(idx < 0, idx + x.shape[ax], idx)
            return x.index_select(ax, idx.flatten()).reshape(
                x.shape[:ax] + idx.shape + x.shape[ax + 1:])
        if op == "GatherElements":
            ax = a.get("axis", 0) % x.dim()
            idx = ins[1]
            return torch.gather(x, ax, torch.where(idx < 0, idx + x.shape[ax], idx))
        if op == "GatherND":
            if a.get("batch_dims", 0):
                raise NotImplementedError("GatherND batch_dims")
            idx = ins[1]
            k = idx.shape[-1]
            flat = idx.reshape(-1, k)
            y = x[tuple(flat.T)]
            return y.reshape(idx.shape[:-1] + x.shape[k:])
        if op == "ScatterND":
            if _s(a.get("reduction", "none")) != "none":
                raise NotImplementedError("ScatterND reduction")
            idx, upd = ins[1], ins[2]
            k = idx.shape[-1]
            out = x.clone()
            out[tuple(idx.reshape(-1, k).T)] = upd.reshape((-1,) + x.shape[k:])
            return out
        if op == "ScatterElements":
            if _s(a.get("reduction", "none")) != "none":
                raise NotImplementedError("ScatterElements reduction")
            ax = a.get("axis", 0) % x.dim()
            return x.scatter(ax, ins[1], ins[2])
        if op in ("Cast", "CastLike"):
            dtype = DTYPES[a["to"]] if op == "Cast" else ins[1].dtype
            return x.to(dtype)
        if op == "Unsqueeze":
            axes = ints(ins[1]) if len(ins) > 1 else list(a["axes"])
            y = x
            rank = y.dim() + len(axes)
            for ax in sorted(v % rank for v in axes):
                y = y.unsqueeze(ax)
            return y
        if op == "Squeeze":
            axes = ints(ins[1]) if len(ins) > 1 and ins[1] is not None else a.get("axes")
            if axes is None:
                return x.squeeze()
            y = x
            for ax in sorted((v % x.dim() for v in axes), reverse=True):
                y = y.squeeze(ax)
            return y
        if op == "Concat":
            ins = [v for v in ins if v is not None]
            return torch.cat(ins, a["axis"])
        if op == "Reshape":
            shape = ints(ins[1])
            if not a.get("allowzero", 0):
                shape = [v if v != 0 else x.shape[i] for i, v in enumerate(shape)]
            return x.reshape(shape)
        if op == "Expand":
            shape = torch.broadcast_shapes(tuple(x.shape), tuple(ints(ins[1])))
            return x.expand(shape)
        if op == "Tile":
            return x.repeat(*ints(ins[1]))
        if op == "Range":
            return torch.arange(ins[0].item(), ins[1].item(), ins[2].item(), dtype=ins[0].dtype)
        if op == "Split":
            ax = a.get("axis", 0)
            dim = x.shape[ax]
            if len(ins) > 1 and ins[1] is not None:
                sizes = ints(ins[1])
            elif "split" in a:
                sizes = list(a["split"])
            else:
                n = a.get("num_outputs", len(node.output))
                chunk = -(-dim // n)
                sizes = [min(chunk, dim - i * chunk) for i in range(n)]
            return list(torch.split(x, sizes, dim=ax))
        if op == "Slice":
            starts, ends = ints(ins[1]), ints(ins[2])
            axes = ints(ins[3]) if len(ins) > 3 and ins[3] is not None else list(
                range(len(starts)))
            steps = ints(ins[4]) if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
            y = x
            for s, e, ax, st in zip(starts, ends, axes, steps):
                ax %= x.dim()
                dim = y.shape[ax]
                s, e = onnx_slice_indices(s, e, st, dim)
                if st == 1:
                    y = y.narrow(ax, s, max(e - s, 0))
                else:
                    idx = torch.tensor(list(range(s, e, st)), dtype=torch.int64)
                    y = y.index_select(ax, idx)
            return y
        if op == "Pad":
            mode = _s(a.get("mode", "constant"))
            pads = ints(ins[1]) if len(ins) > 1 else list(a["pads"])
            value = ins[2].item() if len(ins) > 2 and ins[2] is not None else 0.0
            axes = ints(ins[3]) if len(ins) > 3 and ins[3] is not None else list(range(x.dim()))
            axes = [v % x.dim() for v in axes]
            n = len(axes)
            full = [0] * (2 * x.dim())
            for i, ax in enumerate(axes):
                full[ax], full[ax + x.dim()] = pads[i], pads[i + n]
            tp = []
            for i in reversed(range(x.dim())):
                tp += [full[i], full[i + x.dim()]]
            while len(tp) > 2 and tp[-2:] == [0, 0]:
                tp = tp[:-2]
            if mode == "constant":
                return F.pad(x, tp, value=value)
            return F.pad(x, tp, mode={"reflect": "reflect", "edge": "replicate"}[mode])
        if op == "Einsum":
            return torch.einsum(_s(a["equation"]), *ins)
        if op == "Trilu":
            k = int(ins[1].item()) if len(ins) > 1 and ins[1] is not None else 0
            return torch.triu(x, k) if a.get("upper", 1) else torch.tril(x, k)
        if op == "CumSum":
            ax = int(ins[1].item())
            y = x.flip(ax) if a.get("reverse", 0) else x
            y = torch.cumsum(y, ax)
            if a.get("exclusive", 0):
                y = y - (x.flip(ax) if a.get("reverse", 0) else x)
            return y.flip(ax) if a.get("reverse", 0) else y
        raise NotImplementedError(op)


def _s(v):
    return v.decode() if isinstance(v, bytes) else v
