// dlzero serve: the backprop tab. Draw a digit, give its label, and see chapter 5's
// computational graph for it: POST /api/backprop answers every node's output (forward) and
// gradients (backward), and the step buttons show them node by node, forward then backward.
// "learn this digit", "reset" and "check" are POST /api/backprop/learn, /reset and /check.
// The graph itself is backprop_graph.js; makePad, drawPixels and showBars are app.js's.
"use strict";

(() => {
  const { BOX_W, flat, shapeOf, picture, gradColour, fmt, span, shapeText } = backpropGraph;
  const drawGraph = () => backpropGraph.draw($("bp-graph"), state.trace, state.step);

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
    Convolution: [
      "out = W ⊛ x + b (im2col, then one product)",
      "dx = col2im(dout · W),  dW = dout ⊛ x,  db = Σ dout",
    ],
    Pooling: [
      "out = the largest value of each window",
      "dx = dout sent to each window's largest value, 0 elsewhere",
    ],
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
      explain.textContent =
        `The input x: ${shapeText(trace.input_shape)} values, the 28x28 picture. ` +
        "Step ▶ runs the forward pass one node at a time, then the backward pass.";
    } else if (S <= n) {
      const node = nodes[S - 1];
      const [formula] = FORMULAS[node.layer] || ["forward"];
      text.textContent = `forward ${S} of ${n}: ${node.name}`;
      let more = node.shape.length
        ? `out: ${shapeText(node.shape)}${values(node.out)}`
        : `L = ${fmt(node.out)}`;
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
      const dx = `dx: ${shapeText(shapeOf(node.dx))}${values(node.dx)}`;
      let more = `dout${values(node.dout)};  ${dx}`;
      for (const [p, grad] of Object.entries(node.grads)) {
        const all = flat(grad).map(Math.abs);
        const largest = fmt(Math.max(...all));
        more += `;  d${node.params[p]}: ${shapeText(shapeOf(grad))}, largest |·| ${largest}`;
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
    const top = units
      .map(([name, rows]) => [name, rows, norm(rows)])
      .sort((a, b) => b[2] - a[2])
      .slice(0, 8);
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
    const bar = (p) => {
      const width = `width:${(100 * p).toFixed(1)}%`;
      return `<span class="track"><span class="fill" style="${width}"></span></span>`;
    };
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
    line.textContent =
      `p(${t}): ${(100 * result.before.probabilities[t]).toFixed(1)}% → ` +
      `${(100 * result.after.probabilities[t]).toFixed(1)}%;  ` +
      `loss ${fmt(result.before.loss)} → ${fmt(result.after.loss)}`;
    box.after(line);
  }

  function learnStatus(steps, lr) {
    const status = $("bp-learn-status");
    status.dataset.steps = String(steps);
    const plural = steps > 1 ? "s" : "";
    status.textContent = steps
      ? `a copy of the served network after ${steps} step${plural} of SGD (last lr ${lr})`
      : "the served network";
  }

  $("bp-learn").addEventListener("click", async () => {
    if (!state.trace) return;
    const old = $("bp-learn-result");
    if (old) old.remove();
    try {
      const result = await postJSON("/api/backprop/learn", {
        ...example(),
        lr: Number($("bp-lr").value),
      });
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

  const seconds = (s) =>
    s < 1e-3
      ? `${(s * 1e6).toFixed(0)} µs`
      : s < 1
        ? `${(s * 1e3).toFixed(2)} ms`
        : `${s.toFixed(1)} s`;

  $("bp-check").addEventListener("click", async () => {
    if (!state.trace) return;
    const table = $("bp-check-table");
    try {
      const result = await postJSON("/api/backprop/check", example());
      table.innerHTML =
        "<tr><th>weight</th><th>backprop</th><th>numerical</th><th>|difference|</th></tr>";
      for (const w of result.weights) {
        const row = document.createElement("tr");
        for (const text of [
          `${w.parameter}[${w.index.join(", ")}]`,
          w.backprop.toPrecision(8),
          w.numerical.toPrecision(8),
          w.difference.toExponential(1),
        ]) {
          const cell = document.createElement("td");
          cell.textContent = text;
          row.append(cell);
        }
        table.append(row);
      }
      const k = result.weights.length;
      const P = result.parameters.toLocaleString();
      const times = Math.round(result.numerical_seconds_all / result.backprop_seconds);
      $("bp-check-times").textContent =
        `Backprop: all ${P} gradients in ${seconds(result.backprop_seconds)}. ` +
        `Numerical: these ${k} in ${seconds(result.numerical_seconds)}, so all ${P} would ` +
        `take about ${seconds(result.numerical_seconds_all)}: ` +
        `${times.toLocaleString()} times longer.`;
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
      (trace.steps
        ? `; the copy after ${trace.steps} learning step${trace.steps > 1 ? "s" : ""}`
        : "");
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
