export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

export function max(values) {
  const v = values.filter((x) => Number.isFinite(x));
  return v.length ? Math.max(...v) : NaN;
}

/** 3240000 -> "3.24 M", 23345 -> "23.3 k", 512 -> "512". */
export function fmtCount(x) {
  if (!Number.isFinite(x)) return "n/a";
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(1)} k`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(2)} k`;
  return x.toFixed(0);
}

/** Three significant figures, no exponent. */
export function fmtNum(x) {
  if (!Number.isFinite(x)) return "n/a";
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

export function fmtMiB(kb) {
  return Number.isFinite(kb) ? `${(kb / 1024).toFixed(0)}` : "n/a";
}

export function fmtDuration(s) {
  const m = Math.floor(s / 60);
  return m ? `${m} min ${Math.round(s - m * 60)} s` : `${s.toFixed(1)} s`;
}
