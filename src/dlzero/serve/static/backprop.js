// dlzero serve: the backprop tab. Draw a digit, give its label, and see chapter 5's
// computational graph for it: POST /api/backprop answers every node's output (forward) and
// gradients (backward), and the step buttons show them node by node, forward then backward.
// "learn this digit", "reset" and "check" are POST /api/backprop/learn, /reset and /check.
// Uses makePad, drawPixels and showBars from app.js.
"use strict";

(() => {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const BOX_W = 96; // a node's box
  const EDGE_W = 120; // an edge between two boxes, with its pictures
  const PIC_H = 56; // a picture of more than one row (an image, feature maps)
  const STRIP_H = 14; // a vector of up to 64 values, one cell each
  const ARROW_Y = 112; // the forward arrow; the backward one is 12 px below

  const state = {
    trace: null, // the last answer of /api/backprop
    chosen: null, // the label the learner chose (null: use the prediction)
    predicted: null,
    step: null, // how many of the 2n steps are shown; null: all
    busy: false,
    again: false,
  };

  // What each kind of node computes, forward and backward (the book's formulas).
  const FORMULAS = {
    Affine: ["out = x·W + b", "dx = dout·Wᵀ,  dW = xᵀ·dout,  db = Σ dout"],
    Relu: ["out = max(0, x)", "dx = dout where x > 0, 0 elsewhere (the mask kept by forward)"],
    Sigmoid: ["out = 1 / (1 + e^−x)", "dx = dout · out · (1 − out)"],
    Tanh: ["out = tanh(x)", "dx = dout · (1 − out²)"],
    SoftmaxWithLoss: [
      "y = softmax(scores),  L = −log y_t",
      "dx = (y − t) · dout / N: the probabilities minus the one-hot label (dout = 1, N = 1)",
    ],
    Dropout: ["at test time out = x (dropout acts in training only)", "dx = dout"],
    BatchNormalization: [
      "at test time out = γ · (x − running mean) / √(running var + ε) + β",
      "dx = γ · dout / √(running var + ε),  dγ = Σ dout · x̂,  dβ = Σ dout",
    ],
    Convolution: ["out = W ⊛ x + b (im2col, then one product)", "dx = col2im(dout · W),  dW = dout ⊛ x,  db = Σ dout"],
    Pooling: ["out = the largest value of each window", "dx = dout sent to each window's largest value, 0 elsewhere"],
  };

  const pad = makePad($("bp-pad"), (kind) => {
    if (kind === "up") traceSoon();
  });

  // -- requests --------------------------------------------------------------------------------

  async function post(path, body, type) {
    const response = await fetch(path, { method: "POST", headers: { "Content-Type": type }, body });
    const result = await response.json();
    if (!response.ok) {
      const error = new Error(result.error);
      error.status = response.status;
      throw error;
    }
    return result;
  }

  const postJSON = (path, object) => post(path, JSON.stringify(object), "application/json");
  const blobOf = (canvas) => new Promise((resolve) => canvas.toBlob(resolve, "image/png"));

  function setBusy(busy) {
    $("bp-status").dataset.busy = String(busy);
  }

  // One request at a time, as the draw tab: a change made meanwhile is sent when it is back.
  async function traceSoon() {
    if (!pad.inked) return;
    setBusy(true);
    if (state.busy) {
      state.again = true;
      return;
    }
    state.busy = true;
    state.again = false;
    try {
      const blob = await blobOf(pad.canvas);
      let label = state.chosen;
      if (label === null) {
        // The label defaults to the prediction, as the draw tab reads it.
        label = state.predicted = (await post("/api/predict", blob, "image/png")).prediction;
      }
      const trace = await post(`/api/backprop?label=${label}`, blob, "image/png");
      if (pad.inked) {
        state.trace = trace;
        state.predicted = trace.prediction;
        render();
      }
      $("bp-status").textContent = "";
    } catch (error) {
      $("bp-status").textContent = error.status === 422 ? "nothing to read yet" : error.message;
    } finally {
      state.busy = false;
      if (state.again) traceSoon();
      else setBusy(false);
    }
  }

  // -- the label -------------------------------------------------------------------------------

  const labels = $("bp-labels");
  for (let d = 0; d < 10; d++) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = String(d);
    button.dataset.digit = String(d);
    button.setAttribute("role", "radio");
    button.setAttribute("aria-checked", "false");
    button.addEventListener("click", () => {
      state.chosen = d;
      showLabels();
      traceSoon();
    });
    labels.append(button);
  }

  function currentLabel() {
    return state.trace ? state.trace.label : state.chosen;
  }

  function showLabels() {
    const t = state.chosen !== null ? state.chosen : currentLabel();
    for (const button of labels.children) {
      const d = Number(button.dataset.digit);
      button.setAttribute("aria-checked", String(d === t));
      button.classList.toggle("predicted", state.trace !== null && d === state.trace.prediction);
    }
  }

  // -- pictures of values ----------------------------------------------------------------------

  const flat = (v) => (Array.isArray(v) ? v.flat(Infinity) : [v]);

  function shapeOf(v) {
    const shape = [];
    while (Array.isArray(v)) {
      shape.push(v.length);
      v = v[0];
    }
    return shape;
  }

  function picture(values) {
    // One sample's values as rows of a picture, as dlzero.plotting draws them: 784 values as
    // 28x28, up to 64 as a strip, more as a block; feature maps (C, H, W) as a grid of 16.
    let v = values;
    if (Array.isArray(v) && v.length === 1 && Array.isArray(v[0])) v = v[0]; // the batch of 1
    const shape = shapeOf(v);
    if (shape.length === 3) {
      const [c, h, w] = shape;
      const k = Math.min(c, 16);
      const cols = Math.ceil(Math.sqrt(k));
      const rows = Math.ceil(k / cols);
      const grid = Array.from({ length: rows * (h + 1) - 1 }, () => new Array(cols * (w + 1) - 1).fill(NaN));
      for (let i = 0; i < k; i++) {
        const r = Math.floor(i / cols) * (h + 1);
        const q = (i % cols) * (w + 1);
        for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) grid[r + y][q + x] = v[i][y][x];
      }
      return grid;
    }
    const all = flat(v);
    const n = all.length;
    let cols = n === 784 ? 28 : n <= 64 ? n : Math.ceil(Math.sqrt(2 * n));
    if (shape.length === 2 && n !== 784) cols = shape[1];
    const rows = [];
    for (let i = 0; i < n; i += cols) {
      const row = all.slice(i, i + cols);
      while (row.length < cols) row.push(NaN);
      rows.push(row);
    }
    return rows;
  }

  const scaleOf = (rows) => Math.max(1e-12, ...rows.flat().filter(Number.isFinite).map(Math.abs));

  function diverging(positive, negative) {
    return (v, scale) => {
      if (!Number.isFinite(v)) return [246, 247, 249];
      const a = Math.min(1, Math.abs(v) / scale);
      const [r, g, b] = v >= 0 ? positive : negative;
      return [255 + (r - 255) * a, 255 + (g - 255) * a, 255 + (b - 255) * a];
    };
  }
  const valueColour = diverging([118, 42, 131], [230, 97, 1]); // purple +, orange -
  const gradColour = diverging([192, 57, 43], [33, 102, 172]); // red +, blue -
  const inputColour = (v) => (Number.isFinite(v) ? [255 * v, 255 * v, 255 * v] : [60, 60, 60]);

  function pictureURL(rows, colour) {
    const canvas = document.createElement("canvas");
    const scale = scaleOf(rows);
    drawPixels(canvas, rows, (v) => colour(v, scale));
    return canvas.toDataURL("image/png");
  }

  // -- the graph -------------------------------------------------------------------------------

  function svg(tag, attrs, parent, text) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    if (text !== undefined) el.textContent = text;
    if (parent) parent.append(el);
    return el;
  }

  function image(parent, rows, colour, x, y, maxW, up, stretch = false) {
    // A picture centred in [x, x + maxW], growing up from y (up) or down from it; square
    // pixels unless stretched to the full width.
    const tall = rows.length > 1;
    const h = tall ? (stretch ? PIC_H / 2 : PIC_H) : STRIP_H;
    const w = tall && !stretch ? Math.min(maxW, (h * rows[0].length) / rows.length) : maxW;
    const top = up ? y - h : y;
    svg("image", { x: x + (maxW - w) / 2, y: top, width: w, height: h, href: pictureURL(rows, colour),
      preserveAspectRatio: "none" }, parent);
    svg("rect", { x: x + (maxW - w) / 2, y: top, width: w, height: h, fill: "none", stroke: "#bbb" }, parent);
    return h;
  }

  const fmt = (v) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : Number(v.toPrecision(3)).toString());
  const span = (values) => {
    const all = flat(values);
    return all.length === 1 ? fmt(all[0]) : `[${fmt(Math.min(...all))}, ${fmt(Math.max(...all))}]`;
  };
  const shapeText = (shape) => (shape.length ? shape.join("×") : "scalar");

  function drawGraph() {
    const trace = state.trace;
    const graph = $("bp-graph");
    graph.replaceChildren();
    if (!trace) return;
    const nodes = trace.nodes;
    const n = nodes.length;
    const S = state.step === null ? 2 * n : state.step;
    const items = ["x", ...nodes.map((node) => node.name), "L"];
    const left = (i) => 8 + i * (BOX_W + EDGE_W);
    const width = left(items.length - 1) + BOX_W + 8;
    const height = 250;
    graph.setAttribute("viewBox", `0 0 ${width} ${height}`);
    graph.setAttribute("width", width);
    graph.setAttribute("height", height);
    // The node that ran at this step (none at the start, or when everything is shown).
    let current = S <= n ? S - 1 : 2 * n - S;
    if (state.step === null) current = -1;

    items.forEach((name, i) => {
      const x = left(i);
      if (i === 0 || i === items.length - 1) {
        svg("text", { x: x + BOX_W / 2, y: ARROW_Y + 10, "text-anchor": "middle", "font-weight": 700 },
          graph, i === 0 ? "input x" : "loss L");
      } else {
        const node = nodes[i - 1];
        const g = svg("g", { class: "node" + (i - 1 === current ? " current" : ""), "data-name": name }, graph);
        svg("rect", { x, y: ARROW_Y - 22, width: BOX_W, height: 50, rx: 7 }, g);
        svg("text", { x: x + BOX_W / 2, y: ARROW_Y + 2, "text-anchor": "middle", "font-weight": 700,
          style: name.length > 13 ? "font-size:9px" : "" }, g, name);
        if (name.replace(/\d+$/, "") !== node.layer) {
          svg("text", { x: x + BOX_W / 2, y: ARROW_Y + 18, "text-anchor": "middle", class: "small" }, g, node.layer);
        }
        if (node.layer === "SoftmaxWithLoss") {
          svg("text", { x: x + BOX_W / 2, y: ARROW_Y + 44, "text-anchor": "middle" }, graph, `t = ${trace.label}`);
        }
        // Its parameters' gradients, under the box, once its backward step has run.
        if (S >= 2 * n - (i - 1)) {
          let y = ARROW_Y + 36;
          for (const [p, grad] of Object.entries(node.grads)) {
            const column = p === "W" && shapeOf(grad)[0] === 784; // a unit's weights on the pixels
            const rows = column ? largestColumn(grad) : picture(grad);
            y += image(graph, rows, gradColour, x + 4, y, BOX_W - 8, false, !column) + 12;
            svg("text", { x: x + BOX_W / 2, y: y - 2, "text-anchor": "middle", class: "small grad" }, graph,
              `d${node.params[p]} ${shapeText(shapeOf(grad))}`);
          }
        }
      }
      if (i === items.length - 1) return;
      // The edge from item i to item i + 1.
      const x0 = x + BOX_W + 4;
      const x1 = x + BOX_W + EDGE_W - 4;
      svg("line", { x1: x0, y1: ARROW_Y, x2: x1 - 6, y2: ARROW_Y, stroke: "#1d2430", "stroke-width": 1.5 }, graph);
      svg("path", { d: `M${x1},${ARROW_Y} l-8,-4 v8 z`, fill: "#1d2430" }, graph);
      svg("line", { x1: x0 + 6, y1: ARROW_Y + 12, x2: x1, y2: ARROW_Y + 12, stroke: "#c0392b", "stroke-width": 1.5 }, graph);
      svg("path", { d: `M${x0},${ARROW_Y + 12} l8,-4 v8 z`, fill: "#c0392b" }, graph);
      const value = i === 0 ? trace.input28 : nodes[i - 1].out;
      const shape = i === 0 ? trace.input_shape : nodes[i - 1].shape;
      const grad = i < n ? nodes[i].dx : nodes[n - 1].dout;
      svg("text", { x: (x0 + x1) / 2, y: ARROW_Y - 6, "text-anchor": "middle", class: "small" }, graph, shapeText(shape));
      const forwardShown = i === 0 || S >= i;
      const backwardShown = i < n ? S >= 2 * n - i : S >= n + 1;
      if (forwardShown) {
        if (shape.length === 0) {
          svg("text", { x: (x0 + x1) / 2, y: ARROW_Y - 24, "text-anchor": "middle" }, graph, fmt(value));
        } else {
          const h = image(graph, picture(value), i === 0 ? inputColour : valueColour, x0 + 6, ARROW_Y - 22, x1 - x0 - 12, true);
          svg("text", { x: (x0 + x1) / 2, y: ARROW_Y - 28 - h, "text-anchor": "middle", class: "small" }, graph, span(value));
        }
      }
      if (backwardShown) {
        if (shape.length === 0) {
          svg("text", { x: (x0 + x1) / 2, y: ARROW_Y + 36, "text-anchor": "middle", class: "grad" }, graph, fmt(flat(grad)[0]));
        } else {
          const h = image(graph, picture(grad), gradColour, x0 + 6, ARROW_Y + 22, x1 - x0 - 12, false);
          svg("text", { x: (x0 + x1) / 2, y: ARROW_Y + 34 + h, "text-anchor": "middle", class: "small grad" }, graph, span(grad));
        }
      }
    });
  }

  function largestColumn(W) {
    // The 28x28 picture of the column of a 784xM gradient with the largest norm.
    const m = W[0].length;
    let best = 0;
    let bestNorm = -1;
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let i = 0; i < 784; i++) s += W[i][j] * W[i][j];
      if (s > bestNorm) [best, bestNorm] = [j, s];
    }
    return picture(W.map((row) => row[best]));
  }

  // -- the step-through ------------------------------------------------------------------------

  function describe() {
    const trace = state.trace;
    const text = $("bp-step-text");
    const explain = $("bp-explain");
    if (!trace) {
      text.textContent = "";
      text.dataset.step = "0";
      explain.textContent = "";
      return;
    }
    const nodes = trace.nodes;
    const n = nodes.length;
    const S = state.step === null ? 2 * n : state.step;
    text.dataset.step = String(S);
    text.dataset.total = String(2 * n);
    const values = (v) => {
      const all = flat(v);
      return all.length <= 10 ? ` = [${all.map(fmt).join(", ")}]` : ` in ${span(v)}`;
    };
    if (S === 0) {
      text.textContent = `step 0 of ${2 * n}: the input`;
      explain.textContent = `The input x: ${shapeText(trace.input_shape)} values, the 28x28 picture. ` +
        "Step ▶ runs the forward pass one node at a time, then the backward pass.";
    } else if (S <= n) {
      const node = nodes[S - 1];
      const [formula] = FORMULAS[node.layer] || ["forward"];
      text.textContent = `forward ${S} of ${n}: ${node.name}`;
      let more = node.shape.length ? `out: ${shapeText(node.shape)}${values(node.out)}` : `L = ${fmt(node.out)}`;
      if (node.layer === "Relu") {
        const all = flat(node.out);
        more += `; ${all.filter((v) => v > 0).length} of ${all.length} units pass`;
      }
      if (node.layer === "SoftmaxWithLoss") {
        more += ` = −log ${fmt(trace.probabilities[trace.label])}`;
      }
      explain.textContent = `${node.name}: ${formula}.  ${more}`;
    } else {
      const node = nodes[2 * n - S];
      const [, formula] = FORMULAS[node.layer] || ["", "backward"];
      text.textContent = `backward ${S - n} of ${n}: ${node.name}`;
      let more = `dout${values(node.dout)};  dx: ${shapeText(shapeOf(node.dx))}${values(node.dx)}`;
      for (const [p, grad] of Object.entries(node.grads)) {
        const all = flat(grad).map(Math.abs);
        more += `;  d${node.params[p]}: ${shapeText(shapeOf(grad))}, largest |·| ${fmt(Math.max(...all))}`;
      }
      explain.textContent = `${node.name}: ${formula}.  ${more}`;
      if (S === 2 * n && state.step === null) text.textContent = `all ${2 * n} steps shown`;
    }
  }

  function setStep(step) {
    if (!state.trace) return;
    const total = 2 * state.trace.nodes.length;
    state.step = step === null || step >= total ? null : Math.max(0, step);
    drawGraph();
    describe();
    // On a narrow screen the graph scrolls sideways: bring the node of this step into view.
    const node = $("bp-graph").querySelector(".node.current rect");
    const wrap = $("bp-graph").parentElement;
    if (node && wrap.scrollWidth > wrap.clientWidth) {
      wrap.scrollLeft = Number(node.getAttribute("x")) + BOX_W / 2 - wrap.clientWidth / 2;
    }
  }

  $("bp-first").addEventListener("click", () => setStep(0));
  $("bp-back").addEventListener("click", () => {
    if (state.trace) setStep((state.step === null ? 2 * state.trace.nodes.length : state.step) - 1);
  });
  $("bp-step").addEventListener("click", () => {
    if (state.trace && state.step !== null) setStep(state.step + 1);
  });
  $("bp-all").addEventListener("click", () => setStep(null));

  // -- dW1 as pictures -------------------------------------------------------------------------

  function showWeights() {
    const box = $("bp-dw");
    box.replaceChildren();
    const trace = state.trace;
    const first = trace && trace.nodes.find((node) => node.grads.W);
    if (!first) return;
    const W = first.grads.W;
    const shape = shapeOf(W);
    $("bp-dw-title").textContent = `d${first.params.W}`;
    let units; // [name, rows]
    if (shape.length === 2 && shape[0] === 784) {
      units = W[0].map((_, j) => [`unit ${j}`, W.map((row) => row[j])]);
    } else if (shape.length === 4) {
      units = W.map((filter, j) => [`filter ${j}`, filter[0]]);
    } else {
      return;
    }
    const norm = (rows) => flat(rows).reduce((s, v) => s + v * v, 0);
    const top = units.map(([name, rows]) => [name, rows, norm(rows)]).sort((a, b) => b[2] - a[2]).slice(0, 8);
    const scale = Math.max(1e-12, ...top.flatMap(([, rows]) => flat(rows).map(Math.abs)));
    for (const [name, rows] of top) {
      const cell = document.createElement("div");
      cell.className = "dw-cell";
      const canvas = document.createElement("canvas");
      canvas.className = "dw";
      drawPixels(canvas, shape.length === 2 ? picture(rows) : rows, (v) => gradColour(v, scale));
      cell.append(canvas, document.createElement("br"), name);
      box.append(cell);
    }
  }

  // -- learn, reset, check ---------------------------------------------------------------------

  function example() {
    return { pixels: state.trace.input28, label: state.trace.label };
  }

  function showBeforeAfter(result) {
    const box = $("bp-before-after");
    box.replaceChildren();
    if (!result) return;
    const add = (cls, html) => {
      const el = document.createElement("span");
      el.className = cls;
      el.innerHTML = html;
      box.append(el);
    };
    add("head", "");
    add("head", "before");
    add("head", "after");
    const bar = (p) => `<span class="track"><span class="fill" style="width:${(100 * p).toFixed(1)}%"></span></span>`;
    for (let d = 0; d < 10; d++) {
      const [b, a] = [result.before.probabilities[d], result.after.probabilities[d]];
      add("label" + (d === result.label ? " t" : ""), String(d));
      add("before", bar(b));
      add("after", bar(a));
    }
    const t = result.label;
    const line = document.createElement("p");
    line.className = "explain";
    line.id = "bp-learn-result";
    line.textContent = `p(${t}): ${(100 * result.before.probabilities[t]).toFixed(1)}% → ` +
      `${(100 * result.after.probabilities[t]).toFixed(1)}%;  loss ${fmt(result.before.loss)} → ${fmt(result.after.loss)}`;
    box.after(line);
  }

  function learnStatus(steps, lr) {
    const status = $("bp-learn-status");
    status.dataset.steps = String(steps);
    status.textContent = steps
      ? `a copy of the served network after ${steps} step${steps > 1 ? "s" : ""} of SGD (last lr ${lr})`
      : "the served network";
  }

  $("bp-learn").addEventListener("click", async () => {
    if (!state.trace) return;
    const old = $("bp-learn-result");
    if (old) old.remove();
    try {
      const result = await postJSON("/api/backprop/learn", { ...example(), lr: Number($("bp-lr").value) });
      showBeforeAfter(result);
      learnStatus(result.steps, result.lr);
      traceSoon(); // the graph, now of the copy that learned
    } catch (error) {
      $("bp-learn-status").textContent = error.message;
    }
  });

  $("bp-reset").addEventListener("click", async () => {
    try {
      await postJSON("/api/backprop/reset", {});
      const old = $("bp-learn-result");
      if (old) old.remove();
      showBeforeAfter(null);
      learnStatus(0);
      traceSoon();
    } catch (error) {
      $("bp-learn-status").textContent = error.message;
    }
  });

  const seconds = (s) => (s < 1e-3 ? `${(s * 1e6).toFixed(0)} µs` : s < 1 ? `${(s * 1e3).toFixed(2)} ms` : `${s.toFixed(1)} s`);

  $("bp-check").addEventListener("click", async () => {
    if (!state.trace) return;
    const table = $("bp-check-table");
    try {
      const result = await postJSON("/api/backprop/check", example());
      table.innerHTML = "<tr><th>weight</th><th>backprop</th><th>numerical</th><th>|difference|</th></tr>";
      for (const w of result.weights) {
        const row = document.createElement("tr");
        for (const text of [`${w.parameter}[${w.index.join(", ")}]`, w.backprop.toPrecision(8),
          w.numerical.toPrecision(8), w.difference.toExponential(1)]) {
          const cell = document.createElement("td");
          cell.textContent = text;
          row.append(cell);
        }
        table.append(row);
      }
      const k = result.weights.length;
      const P = result.parameters.toLocaleString();
      $("bp-check-times").textContent =
        `Backprop: all ${P} gradients in ${seconds(result.backprop_seconds)}. Numerical: these ${k} ` +
        `in ${seconds(result.numerical_seconds)}, so all ${P} would take about ` +
        `${seconds(result.numerical_seconds_all)}: ` +
        `${Math.round(result.numerical_seconds_all / result.backprop_seconds).toLocaleString()} times longer.`;
    } catch (error) {
      $("bp-check-times").textContent = error.message;
    }
  });

  // -- putting it together ---------------------------------------------------------------------

  function render() {
    const trace = state.trace;
    const p = trace.probabilities;
    $("bp-summary").textContent =
      `prediction ${trace.prediction} (${(100 * p[trace.prediction]).toFixed(1)}%), ` +
      `label t = ${trace.label} (${(100 * p[trace.label]).toFixed(1)}%), loss ${fmt(trace.loss)}` +
      (trace.steps ? `; the copy after ${trace.steps} learning step${trace.steps > 1 ? "s" : ""}` : "");
    showLabels();
    drawGraph();
    describe();
    showWeights();
  }

  $("bp-clear").addEventListener("click", () => {
    pad.clear();
    Object.assign(state, { trace: null, chosen: null, predicted: null });
    $("bp-summary").textContent = "";
    $("bp-graph").replaceChildren();
    $("bp-dw").replaceChildren();
    showLabels();
    describe();
  });
})();
