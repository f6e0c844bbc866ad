"""Winograd's F(2x2, 3x3) in a training step, layer by layer, against dlzero's fused stages.

Issue 26 asked whether fewer multiplications pay: Winograd's F(2x2, 3x3) computes a 2x2 block
of a 3x3 convolution's output with 16 products where the direct form needs 36. This script
writes the training pass of one convolution that way, in the fused path's layout (channels
first, the batch innermost), and times it against the fused path's own stage
(``dlzero.fast``: im2col a few rows at a time, pooling and ReLU masks included) for each of
DeepConvNet's 3x3 convolutions but the first (one input channel, nothing to save):

- forward: the input's 4x4 tiles turned by B^T d B (eight NumPy passes), 16 products
  (FN, C) x (C, tiles*N), the results turned back by A^T m A and interleaved into the output;
- backward: the same transforms transposed for dL/dm, 16 products each for the filters'
  gradient and the input's, the tiles' gradients added back where they overlap.

The layer alone has no bias, ReLU or pooling, all of which the fused stage also does: if it
is not faster than the whole stage, it cannot pay. Each result is first checked against
``dlzero.layers.Convolution`` (forward, dW, dx). One lane and two lanes at once (two
threads, one BLAS thread each), as the fused step runs.

Run::

    python benchmarks/winograd_training.py            # 50 images a lane, as a 100-image step
    python benchmarks/winograd_training.py --lane 8 --reps 2   # a quick check
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable

os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = "1"

import numpy as np  # (after the thread count is set)

# F(2x2, 3x3): y = A^T [(G g G^T) * (B^T d B)] A for a 4x4 input tile d and a 3x3 filter g.
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float32)


class WinogradConv:
    """A 3x3, stride-1 convolution without bias on a padded input (C, Hp, Wp, N), by F(2x2, 3x3).

    Parameters
    ----------
    c, fn : int
        Input channels, filters.
    hp : int
        The padded input's height and width (square); the output's side is ``hp - 2`` and
        must be even.
    n : int
        Images.
    """

    def __init__(self, c: int, fn: int, hp: int, n: int) -> None:
        if (hp - 2) % 2:
            raise ValueError(f"F(2x2, 3x3) needs an even output side, got {hp - 2}")
        self.c, self.fn, self.n, self.side = c, fn, n, hp - 2
        t = self.tiles = self.side // 2
        f32 = np.float32
        self.rows = np.empty((4, c, t, hp, n), f32)  # B^T d, the rows turned
        self.v = np.empty((4, 4, c, t, t, n), f32)  # B^T d B
        self.m = np.empty((4, 4, fn, t, t, n), f32)
        self.s = np.empty((2, 4, fn, t, t, n), f32)  # A^T m, the rows turned back
        self.y = np.empty((fn, self.side, self.side, n), f32)
        self.dm, self.ds = np.empty_like(self.m), np.empty_like(self.s)
        self.dv, self.drows = np.empty_like(self.v), np.empty_like(self.rows)
        self.dxp = np.empty((c, hp, hp, n), f32)
        self.du = np.empty((16, fn, c), f32)

    def _taps(self, a: np.ndarray, axis: int) -> list[np.ndarray]:
        """The four rows (axis 1) or columns (axis 3) of every tile: strided views of ``a``."""
        span = 2 * self.tiles - 1
        index = [slice(None)] * a.ndim
        views = []
        for k in range(4):
            index[axis] = slice(k, k + span, 2)
            views.append(a[tuple(index)])
        return views

    def forward(self, xp: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Output (FN, side, side, N) of the padded input ``xp`` and filters ``w`` (FN, C, 3, 3)."""
        r0, r1, r2, r3 = self._taps(xp, 1)
        rows = self.rows
        np.subtract(r0, r2, out=rows[0])
        np.add(r1, r2, out=rows[1])
        np.subtract(r2, r1, out=rows[2])
        np.subtract(r1, r3, out=rows[3])
        c0, c1, c2, c3 = self._taps(rows, 3)
        v = self.v
        np.subtract(c0, c2, out=v[:, 0])
        np.add(c1, c2, out=v[:, 1])
        np.subtract(c2, c1, out=v[:, 2])
        np.subtract(c1, c3, out=v[:, 3])
        u = (G @ w @ G.T).transpose(2, 3, 0, 1)  # G g G^T of every filter, (4, 4, FN, C)
        self.u = np.ascontiguousarray(u).reshape(16, self.fn, self.c)
        np.matmul(self.u, v.reshape(16, self.c, -1), out=self.m.reshape(16, self.fn, -1))
        m, s, y = self.m, self.s, self.y
        np.add(m[0], m[1], out=s[0])
        s[0] += m[2]
        np.subtract(m[1], m[2], out=s[1])
        s[1] -= m[3]
        for a in range(2):
            q, ya = s[a], y[:, a::2]
            np.add(q[0], q[1], out=ya[:, :, 0::2])
            ya[:, :, 0::2] += q[2]
            np.subtract(q[1], q[2], out=ya[:, :, 1::2])
            ya[:, :, 1::2] -= q[3]
        return y

    def backward(self, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """dL/dw (FN, C, 3, 3) and dL/d(padded input) (C, Hp, Wp, N) from dy (FN, side, side, N)."""
        ds, dm = self.ds, self.dm
        for a in range(2):
            g0, g1 = dy[:, a::2, 0::2], dy[:, a::2, 1::2]
            d = ds[a]
            d[0] = g0
            np.add(g0, g1, out=d[1])
            np.subtract(g0, g1, out=d[2])
            np.negative(g1, out=d[3])
        np.copyto(dm[0], ds[0])
        np.add(ds[0], ds[1], out=dm[1])
        np.subtract(ds[0], ds[1], out=dm[2])
        np.negative(ds[1], out=dm[3])
        dm16 = dm.reshape(16, self.fn, -1)
        np.matmul(dm16, self.v.reshape(16, self.c, -1).transpose(0, 2, 1), out=self.du)
        dw = G.T @ self.du.reshape(4, 4, self.fn, self.c).transpose(2, 3, 0, 1) @ G
        dv = self.dv
        np.matmul(self.u.transpose(0, 2, 1), dm16, out=dv.reshape(16, self.c, -1))
        # The transposes of the two turns; the tiles overlap by two rows and columns.
        self.drows.fill(0)
        c0, c1, c2, c3 = self._taps(self.drows, 3)
        c0 += dv[:, 0]
        c1 += dv[:, 1]
        c1 -= dv[:, 2]
        c1 += dv[:, 3]
        c2 -= dv[:, 0]
        c2 += dv[:, 1]
        c2 += dv[:, 2]
        c3 -= dv[:, 3]
        self.dxp.fill(0)
        r0, r1, r2, r3 = self._taps(self.dxp, 1)
        dr = self.drows
        r0 += dr[0]
        r1 += dr[1]
        r1 -= dr[2]
        r1 += dr[3]
        r2 -= dr[0]
        r2 += dr[1]
        r2 += dr[2]
        r3 -= dr[3]
        return dw, self.dxp


def check(conv: WinogradConv, pad: int, rng: np.random.Generator) -> float:
    """The largest relative error of output, dW and dx against ``dlzero.layers.Convolution``."""
    from dlzero.layers import Convolution

    h = conv.side + 2 - 2 * pad
    w = rng.standard_normal((conv.fn, conv.c, 3, 3)).astype(np.float32)
    x = rng.standard_normal((conv.n, conv.c, h, h)).astype(np.float32)
    layer = Convolution(w, np.zeros(conv.fn, np.float32), stride=1, pad=pad)
    xp = np.zeros((conv.c, h + 2 * pad, h + 2 * pad, conv.n), np.float32)
    xp[:, pad : pad + h, pad : pad + h] = x.transpose(1, 2, 3, 0)
    dy = rng.standard_normal((conv.n, conv.fn, conv.side, conv.side)).astype(np.float32)
    pairs = [(conv.forward(xp, w).transpose(3, 0, 1, 2), layer.forward(x))]
    dw, dxp = conv.backward(np.ascontiguousarray(dy.transpose(1, 2, 3, 0)))
    dx = layer.backward(dy)
    pairs += [(dw, layer.dW), (dxp[:, pad : pad + h, pad : pad + h].transpose(3, 0, 1, 2), dx)]
    return max(float(np.abs(a - b).max() / np.abs(b).max()) for a, b in pairs)


def timed(fn: Callable[[], object], reps: int) -> float:
    """Seconds per call of ``fn``, after one call."""
    fn()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def one_and_two_lanes(
    make: Callable[[int], Callable[[], object]], reps: int
) -> tuple[float, float]:
    """Best of 3 for one lane alone, and for two lanes at once (the slower lane's time)."""
    one = min(timed(make(0), reps) for _ in range(3))
    calls = [make(0), make(1)]
    times = [0.0, 0.0]

    def lane(i: int) -> None:
        times[i] = timed(calls[i], reps)

    two = float("inf")
    for _ in range(3):
        threads = [threading.Thread(target=lane, args=(i,)) for i in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        two = min(two, max(times))
    return one, two


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lane", type=int, default=50, help="images a lane (default 50)")
    parser.add_argument("--reps", type=int, default=20, help="timed passes a measurement")
    args = parser.parse_args()
    from dlzero.convnets import DeepConvNet
    from dlzero.fast import fused_step
    from dlzero.fast.stages import run_stages

    rng = np.random.default_rng(0)
    fused = fused_step(DeepConvNet(rng=0))
    x = rng.random((args.lane, 1, 28, 28), dtype=np.float32)
    lanes = []
    for lane in (0, 1):  # each lane its own buffers and gradients, as in a step
        bufs = fused._buffers_for(x.shape, True, lane)
        run_stages(fused.stages, bufs, x)
        lanes.append((bufs, {k: v.copy() for k, v in fused._grads[lane].items()}))
    print(f"one training pass (forward and backward) of each 3x3 convolution, {args.lane} images")
    print("a lane, one BLAS thread; two lanes: both at once, the slower's time")
    print(f"{'':6s} {'fused stage':>21s} {'Winograd layer':>21s}  Winograd / stage")
    print(f"{'':6s} {'one':>10s} {'two lanes':>10s} {'one':>10s} {'two lanes':>10s}")
    for i, stage in enumerate(fused.stages[1:], start=1):
        fn, c = stage.conv.W.shape[:2]
        buf = lanes[0][0][i]
        pad, hp = stage.conv.pad, buf.in_shape[1] + 2 * stage.conv.pad
        convs = [WinogradConv(c, fn, hp, args.lane) for _ in (0, 1)]
        error = check(convs[0], pad, rng)
        if error > 1e-4:
            raise SystemExit(f"conv {i + 1}: Winograd differs from Convolution by {error:.1e}")
        w = stage.conv.W
        xp = rng.standard_normal((c, hp, hp, args.lane)).astype(np.float32)
        dy = rng.standard_normal((fn, hp - 2, hp - 2, args.lane)).astype(np.float32)
        hw = buf.pooled.shape[1:3] if stage.pool else buf.out_hw  # g: after the pooling
        g = rng.standard_normal((fn, *hw, args.lane)).astype(np.float32)

        def stage_pass(lane: int, i: int = i, stage=stage, g=g) -> Callable[[], object]:
            bufs, grads = lanes[lane]
            return lambda: (
                bufs[i].forward(stage),
                fused._backward_stage(stage, bufs[i], g, grads, first=False),
            )

        def winograd_pass(lane: int, convs=convs, w=w, xp=xp, dy=dy) -> Callable[[], object]:
            return lambda: (convs[lane].forward(xp, w), convs[lane].backward(dy))

        s1, s2 = one_and_two_lanes(stage_pass, args.reps)
        w1, w2 = one_and_two_lanes(winograd_pass, args.reps)
        print(
            f"conv {i + 1} {s1 * 1e3:7.2f} ms {s2 * 1e3:7.2f} ms {w1 * 1e3:7.2f} ms "
            f"{w2 * 1e3:7.2f} ms  {w1 / s1:.2f}, {w2 / s2:.2f}  ({c}->{fn} channels, "
            f"max rel. error {error:.0e})"
        )


if __name__ == "__main__":
    main()
