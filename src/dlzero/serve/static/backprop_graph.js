// dlzero serve: the backprop tab's graph. A network's computational graph as SVG: a box per
// node, and on each edge the values going forward (above the black arrow) and the gradient
// coming back (below the red one), as small pictures drawn on a canvas; the shapes on the
// edges. backprop.js calls backpropGraph.draw; drawPixels is app.js's.
"use strict";

const backpropGraph = (() => {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const BOX_W = 96; // a node's box
  const EDGE_W = 120; // an edge between two boxes, with its pictures
  const PIC_H = 56; // a picture of more than one row (an image, feature maps)
  const STRIP_H = 14; // a vector of up to 64 values, one cell each
  const ARROW_Y = 112; // the forward arrow; the backward one is 12 px below

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
      const grid = Array.from({ length: rows * (h + 1) - 1 }, () =>
        new Array(cols * (w + 1) - 1).fill(NaN),
      );
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
    svg(
      "image",
      {
        x: x + (maxW - w) / 2,
        y: top,
        width: w,
        height: h,
        href: pictureURL(rows, colour),
        preserveAspectRatio: "none",
      },
      parent,
    );
    svg(
      "rect",
      { x: x + (maxW - w) / 2, y: top, width: w, height: h, fill: "none", stroke: "#bbb" },
      parent,
    );
    return h;
  }

  const fmt = (v) =>
    Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0)
      ? v.toExponential(2)
      : Number(v.toPrecision(3)).toString();
  const span = (values) => {
    const all = flat(values);
    return all.length === 1 ? fmt(all[0]) : `[${fmt(Math.min(...all))}, ${fmt(Math.max(...all))}]`;
  };
  const shapeText = (shape) => (shape.length ? shape.join("×") : "scalar");

  function draw(graph, trace, step) {
    // The graph of ``trace`` in the SVG element ``graph``, with the values of the first
    // ``step`` of the 2n steps (forward node by node, then backward); step null: all of them.
    graph.replaceChildren();
    if (!trace) return;
    const nodes = trace.nodes;
    const n = nodes.length;
    const S = step === null ? 2 * n : step;
    const items = ["x", ...nodes.map((node) => node.name), "L"];
    const left = (i) => 8 + i * (BOX_W + EDGE_W);
    const width = left(items.length - 1) + BOX_W + 8;
    const height = 250;
    graph.setAttribute("viewBox", `0 0 ${width} ${height}`);
    graph.setAttribute("width", width);
    graph.setAttribute("height", height);
    // The node that ran at this step (none at the start, or when everything is shown).
    let current = S <= n ? S - 1 : 2 * n - S;
    if (step === null) current = -1;

    items.forEach((name, i) => {
      const x = left(i);
      if (i === 0 || i === items.length - 1) {
        svg(
          "text",
          { x: x + BOX_W / 2, y: ARROW_Y + 10, "text-anchor": "middle", "font-weight": 700 },
          graph,
          i === 0 ? "input x" : "loss L",
        );
      } else {
        const node = nodes[i - 1];
        const g = svg(
          "g",
          { class: "node" + (i - 1 === current ? " current" : ""), "data-name": name },
          graph,
        );
        svg("rect", { x, y: ARROW_Y - 22, width: BOX_W, height: 50, rx: 7 }, g);
        svg(
          "text",
          {
            x: x + BOX_W / 2,
            y: ARROW_Y + 2,
            "text-anchor": "middle",
            "font-weight": 700,
            style: name.length > 13 ? "font-size:9px" : "",
          },
          g,
          name,
        );
        if (name.replace(/\d+$/, "") !== node.layer) {
          svg(
            "text",
            { x: x + BOX_W / 2, y: ARROW_Y + 18, "text-anchor": "middle", class: "small" },
            g,
            node.layer,
          );
        }
        if (node.layer === "SoftmaxWithLoss") {
          svg(
            "text",
            { x: x + BOX_W / 2, y: ARROW_Y + 44, "text-anchor": "middle" },
            graph,
            `t = ${trace.label}`,
          );
        }
        // Its parameters' gradients, under the box, once its backward step has run.
        if (S >= 2 * n - (i - 1)) {
          let y = ARROW_Y + 36;
          for (const [p, grad] of Object.entries(node.grads)) {
            const column = p === "W" && shapeOf(grad)[0] === 784; // a unit's weights on the pixels
            const rows = column ? largestColumn(grad) : picture(grad);
            y += image(graph, rows, gradColour, x + 4, y, BOX_W - 8, false, !column) + 12;
            svg(
              "text",
              { x: x + BOX_W / 2, y: y - 2, "text-anchor": "middle", class: "small grad" },
              graph,
              `d${node.params[p]} ${shapeText(shapeOf(grad))}`,
            );
          }
        }
      }
      if (i === items.length - 1) return;
      // The edge from item i to item i + 1.
      const x0 = x + BOX_W + 4;
      const x1 = x + BOX_W + EDGE_W - 4;
      svg(
        "line",
        { x1: x0, y1: ARROW_Y, x2: x1 - 6, y2: ARROW_Y, stroke: "#1d2430", "stroke-width": 1.5 },
        graph,
      );
      svg("path", { d: `M${x1},${ARROW_Y} l-8,-4 v8 z`, fill: "#1d2430" }, graph);
      svg(
        "line",
        {
          x1: x0 + 6,
          y1: ARROW_Y + 12,
          x2: x1,
          y2: ARROW_Y + 12,
          stroke: "#c0392b",
          "stroke-width": 1.5,
        },
        graph,
      );
      svg("path", { d: `M${x0},${ARROW_Y + 12} l8,-4 v8 z`, fill: "#c0392b" }, graph);
      const value = i === 0 ? trace.input28 : nodes[i - 1].out;
      const shape = i === 0 ? trace.input_shape : nodes[i - 1].shape;
      const grad = i < n ? nodes[i].dx : nodes[n - 1].dout;
      svg(
        "text",
        { x: (x0 + x1) / 2, y: ARROW_Y - 6, "text-anchor": "middle", class: "small" },
        graph,
        shapeText(shape),
      );
      const forwardShown = i === 0 || S >= i;
      const backwardShown = i < n ? S >= 2 * n - i : S >= n + 1;
      if (forwardShown) {
        if (shape.length === 0) {
          svg(
            "text",
            { x: (x0 + x1) / 2, y: ARROW_Y - 24, "text-anchor": "middle" },
            graph,
            fmt(value),
          );
        } else {
          const h = image(
            graph,
            picture(value),
            i === 0 ? inputColour : valueColour,
            x0 + 6,
            ARROW_Y - 22,
            x1 - x0 - 12,
            true,
          );
          svg(
            "text",
            { x: (x0 + x1) / 2, y: ARROW_Y - 28 - h, "text-anchor": "middle", class: "small" },
            graph,
            span(value),
          );
        }
      }
      if (backwardShown) {
        if (shape.length === 0) {
          svg(
            "text",
            { x: (x0 + x1) / 2, y: ARROW_Y + 36, "text-anchor": "middle", class: "grad" },
            graph,
            fmt(flat(grad)[0]),
          );
        } else {
          const h = image(
            graph,
            picture(grad),
            gradColour,
            x0 + 6,
            ARROW_Y + 22,
            x1 - x0 - 12,
            false,
          );
          svg(
            "text",
            { x: (x0 + x1) / 2, y: ARROW_Y + 34 + h, "text-anchor": "middle", class: "small grad" },
            graph,
            span(grad),
          );
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

  return { BOX_W, draw, flat, shapeOf, picture, gradColour, fmt, span, shapeText };
})();
