/** node:util for the browser bundle: debuglog() is a no-op (a page has no NODE_DEBUG). */
type DebugLog = ((msg: string, ...args: unknown[]) => void) & { enabled: boolean };

export function debuglog(_section: string): DebugLog {
  const log = (() => undefined) as unknown as DebugLog;
  log.enabled = false;
  return log;
}
