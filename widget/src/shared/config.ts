/** The JSON the server renders into `<script type="application/json" id="porchlight-config">`. */
export function readConfig<T>(): T {
  const el = document.getElementById("porchlight-config");
  return JSON.parse(el?.textContent || "{}") as T;
}
