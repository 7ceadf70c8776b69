// A line chart as a standalone SVG document: no dependencies, no scripts, no
// external fonts or images, so GitHub renders it from the README as it is.
// Same spec in, same bytes out (no randomness, no dates, fixed rounding).

const W = 760;
const H = 420;
const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";

// Okabe–Ito colours (distinguishable with the common colour-vision deficiencies),
// each paired with its own dash pattern and marker shape so the series also
// stay apart in greyscale print.
export const STYLES = [
  { color: "#0072B2", dash: "", marker: "circle" },
  { color: "#000000", dash: "7 4", marker: "square" },
  { color: "#D55E00", dash: "2 3", marker: "triangle" },
  { color: "#009E73", dash: "9 3 2 3", marker: "diamond" },
  { color: "#CC79A7", dash: "4 2", marker: "triangle-down" },
  { color: "#E69F00", dash: "1 2", marker: "cross" },
  { color: "#56B4E9", dash: "12 4", marker: "plus" },
];
const REF_DASH = "3 5";
const REF_COLOR = "#6b6b6b";

/** Escape text for XML character data and attribute values. */
export function xmlEscape(s) {
  return String(s)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/** Coordinates with at most two decimals, no "-0". */
const r2 = (v) => {
  const x = Math.round(v * 100) / 100;
  return Object.is(x, -0) ? "0" : String(x);
};

// Rough advance width of sans-serif text: enough to lay out labels and the
// legend without measuring fonts (overestimates slightly on purpose).
function textWidth(s, size) {
  let w = 0;
  for (const ch of String(s)) {
    if ("il.,:;'|!()[] ".includes(ch)) w += 0.3;
    else if ("mwMW".includes(ch)) w += 0.88;
    else if (ch >= "A" && ch <= "Z") w += 0.68;
    else w += 0.56;
  }
  return w * size;
}

/** 1234567 -> "1.2M", 5000 -> "5k", 0.25 -> "0.25": compact SI for tick labels. */
export function siFormat(v) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  const units = [
    [1e12, "T"],
    [1e9, "G"],
    [1e6, "M"],
    [1e3, "k"],
  ];
  for (const [f, u] of units) if (a >= f) return `${trim(v / f)}${u}`;
  return trim(v);
}
function trim(v) {
  const a = Math.abs(v);
  const s = a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toPrecision(2);
  return s.includes(".") && !s.includes("e") ? s.replace(/0+$/, "").replace(/\.$/, "") : s;
}

const finite = (v) => typeof v === "number" && Number.isFinite(v);

// ---------------------------------------------------------------- scales

/**
 * A log axis over [lo, hi] (both > 0): labelled ticks at decades; when the
 * range is narrow (under two decades, or fewer than two decades inside it) the
 * 2× and 5× subdivisions are labelled too. Unlabelled minor gridlines at 2…9×.
 */
export function logTicks(lo, hi) {
  const e0 = Math.floor(Math.log10(lo));
  const e1 = Math.ceil(Math.log10(hi));
  const inside = (v) => v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9);
  const decades = [];
  const minors = [];
  for (let e = e0; e <= e1; e++) {
    const d = decade(e);
    if (inside(d)) decades.push(d);
    for (let m = 2; m <= 9; m++) if (inside(m * d)) minors.push(m * d);
  }
  const span = Math.log10(hi / lo);
  let major = decades;
  if (span < 2 || decades.length < 2) {
    major = [...decades, ...minors.filter((v) => isMantissa(v, [2, 5]))].sort((a, b) => a - b);
    if (major.length < 2) major = [...decades, ...minors].sort((a, b) => a - b);
  }
  // Unlabelled gridlines: every 2…9× on a narrow range, 2× and 5× on a wide one.
  const minor = minors.filter((v) => !major.includes(v) && (span < 2 || isMantissa(v, [2, 5])));
  return { major, minor };
}
// 10^e without the float noise of Math.pow for negative e (0.1, not 0.10000000000000002).
function decade(e) {
  return e >= 0 ? 10 ** e : Number(`1e${e}`);
}
function isMantissa(v, ms) {
  const e = Math.floor(Math.log10(v) + 1e-9);
  const m = Math.round(v / decade(e));
  return ms.includes(m);
}

/** "Nice" linear ticks (1, 2, 5 × 10^k) covering [lo, hi], about `target` of them. */
export function linearTicks(lo, hi, target = 6) {
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.5;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / target;
  const e = Math.floor(Math.log10(raw));
  const base = decade(e);
  const step = [1, 2, 5, 10].map((m) => m * base).find((s) => s >= raw * 0.999) ?? 10 * base;
  const start = Math.floor(lo / step + 1e-9);
  const end = Math.ceil(hi / step - 1e-9);
  const ticks = [];
  for (let i = start; i <= end; i++) ticks.push(Number((i * step).toPrecision(12)));
  return { major: ticks, minor: [], lo: ticks[0], hi: ticks[ticks.length - 1] };
}

function makeAxis(values, { log, zero, extra = [] }) {
  const vs = [...values, ...extra].filter((v) => finite(v) && (!log || v > 0));
  if (vs.length === 0) return null;
  let lo = Math.min(...vs);
  let hi = Math.max(...vs);
  if (log) {
    if (lo === hi) {
      lo /= 2;
      hi *= 2;
    }
    // A little air so markers at the ends are not cut by the frame.
    const pad = Math.max(Math.log10(hi / lo) * 0.04, 0.03);
    lo /= 10 ** pad;
    hi *= 10 ** pad;
    const t = logTicks(lo, hi);
    const L0 = Math.log10(lo);
    const L1 = Math.log10(hi);
    return { ...t, scale: (v) => (Math.log10(v) - L0) / (L1 - L0), ok: (v) => finite(v) && v > 0, lo, hi, log };
  }
  if (zero) {
    lo = Math.min(lo, 0);
    hi = Math.max(hi, 0);
  }
  // Headroom so that a point at the maximum does not sit on the frame.
  const room = (hi - lo || Math.abs(hi) || 1) * 0.04;
  const t = linearTicks(lo < 0 ? lo - room : lo, hi > 0 ? hi + room : hi);
  const L0 = t.lo;
  const L1 = t.hi;
  return { ...t, scale: (v) => (v - L0) / (L1 - L0), ok: finite, lo: L0, hi: L1, log };
}

// ---------------------------------------------------------------- markers

function markerSvg(shape, x, y, color, cls, r = 3.6) {
  const c = `class="${cls}" fill="${color}" stroke="#ffffff" stroke-width="0.8"`;
  const X = r2(x);
  const Y = r2(y);
  switch (shape) {
    case "square":
      return `<rect ${c} x="${r2(x - r * 0.9)}" y="${r2(y - r * 0.9)}" width="${r2(r * 1.8)}" height="${r2(r * 1.8)}"/>`;
    case "triangle":
      return `<path ${c} d="M${X},${r2(y - r * 1.15)}L${r2(x + r * 1.05)},${r2(y + r * 0.75)}L${r2(x - r * 1.05)},${r2(y + r * 0.75)}Z"/>`;
    case "triangle-down":
      return `<path ${c} d="M${X},${r2(y + r * 1.15)}L${r2(x + r * 1.05)},${r2(y - r * 0.75)}L${r2(x - r * 1.05)},${r2(y - r * 0.75)}Z"/>`;
    case "diamond":
      return `<path ${c} d="M${X},${r2(y - r * 1.25)}L${r2(x + r * 1.05)},${Y}L${X},${r2(y + r * 1.25)}L${r2(x - r * 1.05)},${Y}Z"/>`;
    case "cross":
      return `<path class="${cls}" fill="none" stroke="${color}" stroke-width="2" d="M${r2(x - r)},${r2(y - r)}L${r2(x + r)},${r2(y + r)}M${r2(x - r)},${r2(y + r)}L${r2(x + r)},${r2(y - r)}"/>`;
    case "plus":
      return `<path class="${cls}" fill="none" stroke="${color}" stroke-width="2" d="M${r2(x - r)},${Y}L${r2(x + r)},${Y}M${X},${r2(y - r)}L${X},${r2(y + r)}"/>`;
    default:
      return `<circle ${c} cx="${X}" cy="${Y}" r="${r2(r)}"/>`;
  }
}

// ---------------------------------------------------------------- layout helpers

function wrap(text, size, maxWidth) {
  const lines = [];
  let line = "";
  for (const word of String(text).split(/\s+/).filter(Boolean)) {
    const next = line ? `${line} ${word}` : word;
    if (line && textWidth(next, size) > maxWidth) {
      lines.push(line);
      line = word;
    } else line = next;
  }
  if (line) lines.push(line);
  return lines;
}

/** Keep every k-th label so that neighbours do not overlap (the gridlines stay). */
function thin(ticks, pos, widthOf, gap) {
  for (let k = 1; k <= ticks.length; k++) {
    const kept = ticks.filter((_, i) => i % k === 0);
    let ok = true;
    for (let i = 1; i < kept.length && ok; i++) {
      const a = kept[i - 1];
      const b = kept[i];
      if (Math.abs(pos(b) - pos(a)) < (widthOf(a) + widthOf(b)) / 2 + gap) ok = false;
    }
    if (ok) return new Set(kept);
  }
  return new Set(ticks.slice(0, 1));
}

// ---------------------------------------------------------------- the chart

/**
 * spec: { title, xLabel, yLabel, xLog, yLog,
 *         series: [{ name, points: [[x, y], …], emphasis?, style? }],
 *         refs?: [{ y, label, style? }]   horizontal reference lines (legend entries too),
 *         xTicks?: number[]               major x ticks instead of the automatic ones,
 *         xTickFormat?, yTickFormat?, note? }
 * `style` is an index into STYLES (default: the series' position), so a caller
 * can keep one colour per implementation across charts with different series.
 * A point whose x or y is missing, NaN, null, or not positive on a log axis is
 * a gap: the line breaks there. Returns the SVG document as a string.
 */
export function lineChart(spec) {
  if (!spec || !Array.isArray(spec.series)) throw new TypeError("lineChart: spec.series must be an array");
  const title = String(spec.title ?? "");
  const series = spec.series.map((s, i) => ({
    name: String(s.name ?? `series ${i + 1}`),
    emphasis: !!s.emphasis,
    style: STYLES[(Number.isInteger(s.style) ? s.style : i) % STYLES.length],
    points: (Array.isArray(s.points) ? s.points : []).map((p) => [p?.[0], p?.[1]]),
  }));
  const refs = (spec.refs ?? []).map((r) => ({
    y: r.y,
    label: String(r.label ?? ""),
    color: Number.isInteger(r.style) ? STYLES[r.style % STYLES.length].color : REF_COLOR,
  }));
  const fx = spec.xTickFormat ?? siFormat;
  const fy = spec.yTickFormat ?? siFormat;
  const xLog = !!spec.xLog;
  const yLog = !!spec.yLog;

  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.filter((p) => finite(p[0]) && (!xLog || p[0] > 0)).map((p) => p[1]));
  const xAxis = makeAxis(xs, { log: xLog, zero: false });
  const yAxis = makeAxis(ys, { log: yLog, zero: true, extra: refs.map((r) => r.y) });
  if (xAxis && Array.isArray(spec.xTicks)) {
    const inRange = spec.xTicks.filter((v) => xAxis.ok(v) && v >= xAxis.lo && v <= xAxis.hi);
    // Decimal subdivisions would not line up with caller-chosen (e.g. binary) ticks.
    xAxis.minor = [];
    xAxis.major = inRange;
  }

  // Legend entries: series, then reference lines.
  const legend = [
    ...series.map((s) => ({ kind: "series", label: s.name, s })),
    ...refs.filter((r) => finite(r.y) && (!yLog || r.y > 0)).map((r) => ({ kind: "ref", label: r.label, r })),
  ];

  // Vertical layout: title, legend rows, plot, x ticks, x label, note.
  const out = [];
  const titleY = 26;
  const LEG_FONT = 12;
  const legItemW = (e) => 34 + textWidth(e.label, LEG_FONT) + 18;
  const legMaxW = W - 40;
  const rows = [[]];
  let rowW = 0;
  for (const e of legend) {
    const w = legItemW(e);
    if (rowW + w > legMaxW && rows[rows.length - 1].length) {
      rows.push([]);
      rowW = 0;
    }
    rows[rows.length - 1].push(e);
    rowW += w;
  }
  const legTop = 42;
  const legRowH = 18;
  const legH = legend.length ? rows.length * legRowH : 0;
  const NOTE_FONT = 11;
  const noteLines = spec.note ? String(spec.note).split("\n").flatMap((p) => wrap(p, NOTE_FONT, W - 40)) : [];
  const noteH = noteLines.length * 14;
  const plotTop = legTop + legH + 12;
  const plotBottom = H - 52 - noteH - (noteH ? 4 : 0);

  // Horizontal layout: room for the widest y tick label and the y axis title.
  const TICK_FONT = 11;
  const yLabelsW = yAxis ? Math.max(...yAxis.major.map((v) => textWidth(fy(v), TICK_FONT))) : 20;
  const plotLeft = Math.ceil(26 + yLabelsW + 8);
  const plotRight = W - 24;
  const pw = plotRight - plotLeft;
  const ph = plotBottom - plotTop;
  const px = (v) => plotLeft + xAxis.scale(v) * pw;
  const py = (v) => plotBottom - yAxis.scale(v) * ph;

  out.push(
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${xmlEscape(title)}" font-family="${FONT}">`,
    `<title>${xmlEscape(title)}</title>`,
    `<rect class="background" x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text class="chart-title" x="${W / 2}" y="${titleY}" text-anchor="middle" font-size="15" font-weight="600" fill="#1a1a1a">${xmlEscape(title)}</text>`,
  );

  if (!xAxis || !yAxis) {
    out.push(
      `<text class="no-data" x="${W / 2}" y="${H / 2}" text-anchor="middle" font-size="13" fill="#555555">no data</text>`,
      `</svg>`,
    );
    return out.join("\n") + "\n";
  }

  // Grid and axes.
  out.push(`<g class="grid" stroke-width="1" fill="none">`);
  for (const v of yAxis.minor) out.push(`<line stroke="#f0f0f0" x1="${plotLeft}" x2="${plotRight}" y1="${r2(py(v))}" y2="${r2(py(v))}"/>`);
  for (const v of xAxis.minor) out.push(`<line stroke="#f0f0f0" x1="${r2(px(v))}" x2="${r2(px(v))}" y1="${r2(plotTop)}" y2="${r2(plotBottom)}"/>`);
  for (const v of yAxis.major) out.push(`<line stroke="#d9d9d9" x1="${plotLeft}" x2="${plotRight}" y1="${r2(py(v))}" y2="${r2(py(v))}"/>`);
  for (const v of xAxis.major) out.push(`<line stroke="#d9d9d9" x1="${r2(px(v))}" x2="${r2(px(v))}" y1="${r2(plotTop)}" y2="${r2(plotBottom)}"/>`);
  out.push(`</g>`);
  out.push(`<rect class="frame" x="${plotLeft}" y="${r2(plotTop)}" width="${pw}" height="${r2(ph)}" fill="none" stroke="#8c8c8c" stroke-width="1"/>`);

  // Tick labels (thinned where they would collide).
  const xShown = thin(xAxis.major, px, (v) => textWidth(fx(v), TICK_FONT), 8);
  const yShown = thin(yAxis.major, py, () => TICK_FONT, 4);
  out.push(`<g class="x-ticks" font-size="${TICK_FONT}" fill="#333333" text-anchor="middle">`);
  for (const v of xAxis.major) {
    if (xShown.has(v)) out.push(`<text class="x-tick" x="${r2(px(v))}" y="${r2(plotBottom + 16)}">${xmlEscape(fx(v))}</text>`);
  }
  out.push(`</g>`);
  out.push(`<g class="y-ticks" font-size="${TICK_FONT}" fill="#333333" text-anchor="end">`);
  for (const v of yAxis.major) {
    if (yShown.has(v)) out.push(`<text class="y-tick" x="${plotLeft - 6}" y="${r2(py(v) + 4)}">${xmlEscape(fy(v))}</text>`);
  }
  out.push(`</g>`);
  out.push(
    `<text class="x-label" x="${r2(plotLeft + pw / 2)}" y="${r2(plotBottom + 36)}" text-anchor="middle" font-size="12" fill="#1a1a1a">${xmlEscape(spec.xLabel ?? "")}</text>`,
    `<text class="y-label" transform="translate(16 ${r2(plotTop + ph / 2)}) rotate(-90)" text-anchor="middle" font-size="12" fill="#1a1a1a">${xmlEscape(spec.yLabel ?? "")}</text>`,
  );

  // Reference lines under the data.
  for (const e of legend) {
    if (e.kind !== "ref") continue;
    const y = r2(py(e.r.y));
    out.push(
      `<line class="ref-line" data-label="${xmlEscape(e.label)}" x1="${plotLeft}" x2="${plotRight}" y1="${y}" y2="${y}" stroke="${e.r.color}" stroke-width="1.5" stroke-dasharray="${REF_DASH}"/>`,
    );
  }

  // Series: non-emphasised first so the emphasised one is drawn on top.
  const order = series.map((s, i) => i).sort((a, b) => Number(series[a].emphasis) - Number(series[b].emphasis) || a - b);
  out.push(`<g class="plot" fill="none">`);
  for (const i of order) {
    const s = series[i];
    const pts = s.points
      .map((p, k) => ({ x: p[0], y: p[1], k }))
      .filter((p) => xAxis.ok(p.x))
      .sort((a, b) => a.x - b.x || a.k - b.k);
    const segments = [];
    let cur = [];
    for (const p of pts) {
      if (yAxis.ok(p.y)) cur.push(p);
      else if (cur.length) {
        segments.push(cur);
        cur = [];
      }
    }
    if (cur.length) segments.push(cur);
    const sw = s.emphasis ? 3.2 : 1.8;
    const dash = s.style.dash ? ` stroke-dasharray="${s.style.dash}"` : "";
    out.push(`<g class="series${s.emphasis ? " emphasis" : ""}" data-name="${xmlEscape(s.name)}">`);
    for (const seg of segments) {
      if (seg.length < 2) continue;
      const d = seg.map((p) => `${r2(px(p.x))},${r2(py(p.y))}`).join(" ");
      out.push(
        `<polyline class="line" points="${d}" stroke="${s.style.color}" stroke-width="${sw}"${dash} stroke-linejoin="round" stroke-linecap="round"/>`,
      );
    }
    for (const seg of segments) {
      for (const p of seg) out.push(markerSvg(s.style.marker, px(p.x), py(p.y), s.style.color, "marker", s.emphasis ? 4.4 : 3.6));
    }
    out.push(`</g>`);
  }
  out.push(`</g>`);

  // Legend, above the plot so it never covers data.
  out.push(`<g class="legend" font-size="${LEG_FONT}" fill="#1a1a1a">`);
  rows.forEach((row, ri) => {
    const rw = row.reduce((a, e) => a + legItemW(e), 0) - 18;
    let x = Math.round((W - rw) / 2);
    const y = legTop + ri * legRowH;
    for (const e of row) {
      if (e.kind === "series") {
        const st = e.s.style;
        const dash = st.dash ? ` stroke-dasharray="${st.dash}"` : "";
        out.push(
          `<g class="legend-entry" data-name="${xmlEscape(e.label)}">`,
          `<line x1="${x}" x2="${x + 28}" y1="${y}" y2="${y}" stroke="${st.color}" stroke-width="${e.s.emphasis ? 3.2 : 1.8}"${dash}/>`,
          markerSvg(st.marker, x + 14, y, st.color, "legend-marker", e.s.emphasis ? 4.4 : 3.6),
          `<text x="${x + 34}" y="${y + 4}"${e.s.emphasis ? ` font-weight="600"` : ""}>${xmlEscape(e.label)}</text>`,
          `</g>`,
        );
      } else {
        out.push(
          `<g class="legend-entry legend-ref" data-name="${xmlEscape(e.label)}">`,
          `<line x1="${x}" x2="${x + 28}" y1="${y}" y2="${y}" stroke="${e.r.color}" stroke-width="1.5" stroke-dasharray="${REF_DASH}"/>`,
          `<text x="${x + 34}" y="${y + 4}">${xmlEscape(e.label)}</text>`,
          `</g>`,
        );
      }
      x += legItemW(e);
    }
  });
  out.push(`</g>`);

  if (noteLines.length) {
    const y0 = H - 10 - (noteLines.length - 1) * 14;
    out.push(`<g class="note" font-size="${NOTE_FONT}" fill="#555555">`);
    noteLines.forEach((l, i) => out.push(`<text x="20" y="${r2(y0 + i * 14)}">${xmlEscape(l)}</text>`));
    out.push(`</g>`);
  }
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}
