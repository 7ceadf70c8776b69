/**
 * Strict UTF-8, as Python's bytes.decode("utf-8") checks it: the early wire's
 * identities are text, and an `auto` bind end tells an early peer's first
 * frame from a legacy one by it. Shared by the early wire and the browser
 * bundle's stand-in for it (shims/wires-off.ts).
 */

// No replacement characters, and a leading byte-order mark is kept as part
// of the text, not stripped.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Whether `bytes` is valid UTF-8 (Python's strict decoder accepts it). */
export function isUtf8(bytes: Uint8Array): boolean {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}
