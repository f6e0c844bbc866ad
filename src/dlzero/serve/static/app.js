// dlzero serve: the page. Plain JavaScript, no library: draw on a canvas, send it to
// POST /api/predict as a PNG, and draw what comes back; train from the second tab and poll
// GET /api/train for the curves. The backprop tab is backprop.js, which uses makePad,
// drawPixels and showBars from here.
"use strict";

const $ = (id) => document.getElementById(id);
let model = null; // GET /api/model: the network being served, its dead units

// -- tabs -----------------------------------------------------------------------------------

for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => {
    for (const other of document.querySelectorAll(".tab")) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      $(other.dataset.tab).hidden = !selected;
    }
  });
}

async function loadModel() {
  const response = await fetch("/api/model");
  model = await response.json();
  const acc = model.test_accuracy == null ? "" :
    `, test accuracy ${(100 * model.test_accuracy).toFixed(2)}%`;
  $("model-info").textContent =
    `network: ${model.class} ${model.description} (${model.parameters.toLocaleString()} ` +
    `parameters${acc}); ${model.source}`;
}

// -- drawing ----------------------------------------------------------------------------------
// A pad: a 280x280 canvas drawn on with a mouse, finger or pen, white ink on black as MNIST.
// onChange(kind) is called as the ink changes: "move" while drawing, "up" when a stroke ends.

function makePad(canvas, onChange) {
  const ctx = canvas.getContext("2d");
  const pad = { canvas, inked: false };
  let drawing = false;
  let last = null;

  pad.clear = () => {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    pad.inked = false;
  };

  function point(event) {
    // The canvas may be shown smaller than 280 px (a phone): map to its own pixels.
    const rect = canvas.getBoundingClientRect();
    return [
      (event.clientX - rect.left) * (canvas.width / rect.width),
      (event.clientY - rect.top) * (canvas.height / rect.height),
    ];
  }

  canvas.addEventListener("pointerdown", (event) => {
    drawing = true;
    canvas.setPointerCapture(event.pointerId);
    last = point(event);
    ctx.fillStyle = "#fff"; // a dot: a line of no length draws nothing
    ctx.beginPath();
    ctx.arc(...last, 10, 0, 2 * Math.PI);
    ctx.fill();
    pad.inked = true;
    onChange("move");
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    const p = point(event);
    // White ink on black, as MNIST; about MNIST's stroke width once scaled to 20x20.
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 20;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(...last);
    ctx.lineTo(...p);
    ctx.stroke();
    last = p;
    onChange("move");
  });
  for (const type of ["pointerup", "pointercancel"]) {
    canvas.addEventListener(type, () => {
      if (!drawing) return;
      drawing = false;
      onChange("up");
    });
  }
  pad.clear();
  return pad;
}

const pad = makePad($("pad"), () => predictSoon());

function clearPad() {
  pad.clear();
  showNothing();
}

$("clear").addEventListener("click", clearPad);

// -- predicting while drawing ----------------------------------------------------------------
// One request at a time: a change made while one is under way is sent when it comes back,
// so the page keeps up with the pen without piling up requests.

let inFlight = false;
let again = false;

function setBusy(busy) {
  $("prediction").dataset.busy = String(busy);
}

function predictSoon() {
  if (!pad.inked) return;
  setBusy(true);
  if (inFlight) {
    again = true;
    return;
  }
  inFlight = true;
  again = false;
  pad.canvas.toBlob(async (blob) => {
    try {
      const response = await fetch("/api/predict", {
        method: "POST",
        headers: { "Content-Type": "image/png" },
        body: blob,
      });
      const result = await response.json();
      if (response.ok) {
        if (pad.inked) show(result);
        $("draw-status").textContent = "";
      } else if (response.status === 422) {
        showNothing(); // nothing to read yet
      } else {
        $("draw-status").textContent = result.error;
      }
    } catch (error) {
      $("draw-status").textContent = `the server does not answer (${error})`;
    } finally {
      inFlight = false;
      if (again) predictSoon();
      else setBusy(false);
    }
  }, "image/png");
}

// -- showing a prediction --------------------------------------------------------------------

function drawPixels(canvas, rows, colour) {
  const h = rows.length;
  const w = rows[0].length;
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(w, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const [r, g, b] = colour(rows[y][x], x, y);
      const i = 4 * (y * w + x);
      image.data[i] = r;
      image.data[i + 1] = g;
      image.data[i + 2] = b;
      image.data[i + 3] = 255;
    }
  }
  ctx.putImageData(image, 0, 0);
}

const grey = (v) => [255 * v, 255 * v, 255 * v];

function showBars(probabilities, top, bars = $("bars")) {
  bars.replaceChildren();
  probabilities.forEach((p, digit) => {
    const row = document.createElement("div");
    row.className = "bar" + (digit === top ? " top" : "");
    row.innerHTML =
      `<span class="label">${digit}</span>` +
      `<span class="track"><span class="fill" style="width:${(100 * p).toFixed(1)}%"></span></span>` +
      `<span class="value">${(100 * p).toFixed(1)}%</span>`;
    bars.append(row);
  });
}

function unitColour(v, scale) {
  // Brighter for larger outputs; negative ones (tanh) in blue.
  const a = Math.min(1, Math.abs(v) / scale);
  return v >= 0 ? [255 * a, 200 * a + 20 * (1 - a), 60 * a] : [40 * a, 110 * a, 255 * a];
}

function showUnits(container, layer, dead) {
  const values = layer.values;
  const n = values.length;
  const cols = Math.min(n, Math.ceil(Math.sqrt(n * 4)));
  const rows = Math.ceil(n / cols);
  const cell = n <= 100 ? 24 : n <= 400 ? 16 : 10;
  const canvas = document.createElement("canvas");
  canvas.className = "units";
  canvas.width = cols * cell;
  canvas.height = rows * cell;
  const ctx = canvas.getContext("2d");
  const scale = Math.max(1e-6, ...values.map(Math.abs));
  const deadSet = new Set(dead);
  values.forEach((v, i) => {
    const x = (i % cols) * cell;
    const y = Math.floor(i / cols) * cell;
    ctx.fillStyle = `rgb(${unitColour(v, scale).join(",")})`;
    ctx.fillRect(x + 1, y + 1, cell - 2, cell - 2);
    if (deadSet.has(i)) {
      ctx.strokeStyle = "#e33";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(x + 3, y + 3);
      ctx.lineTo(x + cell - 3, y + cell - 3);
      ctx.moveTo(x + cell - 3, y + 3);
      ctx.lineTo(x + 3, y + cell - 3);
      ctx.stroke();
    }
  });
  const active = values.filter((v) => v > 0).length;
  const caption = document.createElement("p");
  caption.className = "muted";
  caption.textContent =
    `${layer.name}: ${n} units, ${active} active for this drawing` +
    (dead.length ? `, ${dead.length} dead` : "");
  container.append(caption, canvas);
}

function showMaps(container, layer) {
  const caption = document.createElement("p");
  caption.className = "muted";
  caption.textContent = `${layer.name}: ${layer.shape[0]} feature maps of ` +
    `${layer.shape[1]}x${layer.shape[2]}`;
  const grid = document.createElement("div");
  grid.className = "maps";
  for (const map of layer.values) {
    const canvas = document.createElement("canvas");
    canvas.className = "pixels map";
    const scale = Math.max(1e-6, ...map.flat().map(Math.abs));
    drawPixels(canvas, map, (v) => unitColour(v, scale));
    grid.append(canvas);
  }
  container.append(caption, grid);
}

function show(result) {
  $("prediction").textContent = String(result.prediction);
  drawPixels($("input28"), result.input28, grey);
  showBars(result.probabilities, result.prediction);
  const hidden = $("hidden");
  hidden.replaceChildren();
  for (const layer of result.hidden) {
    const info = model && model.hidden.find((h) => h.name === layer.name);
    if (layer.kind === "units") showUnits(hidden, layer, info ? info.dead : []);
    else showMaps(hidden, layer);
  }
  // Saliency: the drawing in dim grey, red where the gradient is positive, blue negative.
  const s = result.saliency;
  const scale = Math.max(1e-12, ...s.flat().map(Math.abs));
  drawPixels($("saliency"), s, (v, x, y) => {
    const base = 60 * result.input28[y][x];
    const a = Math.abs(v) / scale;
    return v >= 0 ? [base + (255 - base) * a, base, base] : [base, base + 80 * a, base + (255 - base) * a];
  });
}

function showNothing() {
  $("prediction").textContent = "–";
  setBusy(inFlight);
  showBars(new Array(10).fill(0), -1);
  $("hidden").replaceChildren();
  for (const id of ["input28", "saliency"]) {
    drawPixels($(id), Array.from({ length: 28 }, () => new Array(28).fill(0)), grey);
  }
}

// -- training from the page ------------------------------------------------------------------

let polling = null;

function plot(canvas, series, xmax, ymax, yLabel) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width;
  const h = canvas.height;
  const left = 44;
  const bottom = 24;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = "#999";
  ctx.fillStyle = "#555";
  ctx.font = "11px sans-serif";
  ctx.lineWidth = 1;
  ctx.strokeRect(left, 4, w - left - 6, h - bottom - 4);
  const X = (x) => left + (x / xmax) * (w - left - 6);
  const Y = (y) => 4 + (1 - y / ymax) * (h - bottom - 4);
  for (const t of [0, 0.5, 1]) {
    ctx.fillText((t * ymax).toPrecision(2), 2, Y(t * ymax) + 4);
    ctx.fillText(Math.round(t * xmax).toLocaleString(), X(t * xmax) - (t ? 24 : 0), h - 8);
  }
  ctx.fillText(yLabel, left + 6, 16);
  for (const { points, colour, dashed } of series) {
    ctx.strokeStyle = colour;
    ctx.lineWidth = 2;
    ctx.setLineDash(dashed ? [5, 4] : []);
    ctx.beginPath();
    let started = false;
    for (const [x, y] of points) {
      if (y == null) continue;
      if (started) ctx.lineTo(X(x), Y(Math.min(y, ymax)));
      else ctx.moveTo(X(x), Y(Math.min(y, ymax)));
      started = true;
    }
    ctx.stroke();
  }
  ctx.setLineDash([]);
}

function showRun(run) {
  const status = $("train-status");
  status.dataset.state = run.state;
  if (run.state === "idle") return;
  const pct = run.accuracy.length ? run.accuracy[run.accuracy.length - 1] : null;
  const now = pct ? `; train ${(100 * pct[1]).toFixed(1)}%, test ${(100 * pct[2]).toFixed(1)}%` : "";
  status.textContent = run.state === "running"
    ? `iteration ${run.iteration.toLocaleString()} of ${run.iters.toLocaleString()}${now} ` +
      `(${run.seconds.toFixed(1)} s)`
    : run.message;
  const losses = run.loss.filter(([, v]) => v != null).map(([, v]) => v);
  const top = Math.max(0.5, ...losses.slice(0, 3), ...losses.slice(-3));
  plot($("loss-plot"), [{ points: run.loss, colour: "#c33" }], run.iters, Math.min(top, 3), "loss");
  plot($("acc-plot"), [
    { points: run.accuracy.map(([i, a]) => [i, a]), colour: "#36c" },
    { points: run.accuracy.map(([i, , b]) => [i, b]), colour: "#36c", dashed: true },
  ], run.iters, 1, "accuracy");
  const running = run.state === "running";
  $("train-start").disabled = running;
  $("train-stop").disabled = !running;
}

async function poll() {
  try {
    const run = await (await fetch("/api/train")).json();
    showRun(run);
    if (run.state !== "running") {
      clearInterval(polling);
      polling = null;
      if (run.state === "done" || run.state === "stopped") {
        await loadModel();
        predictSoon(); // the drawing on the pad, read again by the network just trained
      }
    }
  } catch (error) {
    $("train-status").textContent = `the server does not answer (${error})`;
  }
}

function watchRun() {
  if (polling === null) polling = setInterval(poll, 300);
}

$("train-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const settings = {
    activation: form.get("activation"),
    hidden: String(form.get("hidden")).trim().split(/[\s,]+/).map(Number),
    optimizer: form.get("optimizer"),
    lr: Number(form.get("lr")),
    iters: Number(form.get("iters")),
  };
  const response = await fetch("/api/train", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(settings),
  });
  const run = await response.json();
  if (!response.ok) {
    $("train-status").textContent = run.error;
    return;
  }
  showRun(run);
  watchRun();
});

$("train-stop").addEventListener("click", () => {
  // JSON, as every request that changes something: a form on another site cannot send it.
  fetch("/api/train/stop", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: "{}",
  });
});

// -- start ------------------------------------------------------------------------------------

clearPad();
loadModel();
fetch("/api/train").then((r) => r.json()).then((run) => {
  if (run.state !== "idle") showRun(run);
  if (run.state === "running") watchRun();
});
