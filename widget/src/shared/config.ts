/** The JSON the server renders into `<script type="application/json" id="porchlight-config">`. */
export function readConfig<T>(): T {
  const el = document.getElementById("porchlight-config");
  return JSON.parse(el?.textContent || "{}") as T;
}

/** Reconnect delay after a refused connection: exponential, jittered, capped at 10 s. */
export function backoff(attempt: number): number {
  return Math.min(10_000, 1000 * 2 ** attempt) * (0.5 + Math.random() / 2);
}
