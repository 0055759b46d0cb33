// The frame every admin page shares: a header with the nav, the signed-in staff member, and
// a JSON client that proves state-changing requests with the session's CSRF token.
import "./admin.css";
import { readConfig } from "../shared/config";
import { h } from "../shared/dom";

export interface Me {
  id: number | string;
  name: string;
  email: string;
  role: string;
}

interface PageConfig {
  productName?: string;
  page: string;
  title: string;
  nav: { slug: string; title: string }[];
}

/** A refused request: the server's code and its user-safe message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Api {
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  patch<T>(path: string, body?: unknown): Promise<T>;
  put<T>(path: string, body?: unknown): Promise<T>;
  del<T>(path: string, body?: unknown): Promise<T>;
}

export function client(csrf: string): Api {
  async function send<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (method !== "GET") headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response: Response;
    try {
      response = await fetch(path, {
        method,
        credentials: "same-origin",
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, "network", "Can't reach the server. Check the connection and try again.");
    }
    const data: unknown = await response.json().catch(() => null);
    if (response.ok) return data as T;
    const error = (data as { error?: { code?: string; message?: string } } | null)?.error;
    if (response.status === 401) location.assign("/console");
    throw new ApiError(
      response.status,
      error?.code ?? "http." + response.status,
      error?.message ?? `The server said ${response.status}.`,
    );
  }
  return {
    get: (path) => send("GET", path),
    post: (path, body) => send("POST", path, body ?? {}),
    patch: (path, body) => send("PATCH", path, body ?? {}),
    put: (path, body) => send("PUT", path, body ?? {}),
    del: (path, body) => send("DELETE", path, body),
  };
}

/** A refusal's or failure's message, for a `role="alert"` line. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Runs a page's loading work; if it fails, the page says why instead of staying blank. */
export async function guarded(where: HTMLElement, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    where.append(h("p", { class: "problem", role: "alert" }, errorText(error)));
  }
}

/** Draws the shared header and nav and answers the page's `<main>` (empty, labelled by the
 * page's title), a JSON client and the signed-in staff member. */
export async function shell(): Promise<{ main: HTMLElement; api: Api; me: Me }> {
  const config = readConfig<PageConfig>();
  const response = await fetch("/api/v1/me", { credentials: "same-origin" });
  if (response.status === 401) {
    location.assign("/console");
    throw new ApiError(401, "auth.required", "Please sign in.");
  }
  const session = (await response.json()) as { staff: Me; csrf_token: string };
  const nav = h(
    "nav",
    { "aria-label": "Settings" },
    h("a", { href: "/console" }, "Desk"),
    ...config.nav.map((item) =>
      h(
        "a",
        { href: `/console/${item.slug}`, "aria-current": item.slug === config.page ? "page" : null },
        item.title,
      ),
    ),
  );
  const heading = h("h1", { id: "page-title" }, config.title);
  const main = h("main", { "aria-labelledby": "page-title" });
  document.body.replaceChildren(
    h(
      "header",
      { class: "top" },
      h("span", { class: "product" }, config.productName || "Porchlight"),
      nav,
      h("span", { class: "who" }, session.staff.name),
    ),
    h("div", { class: "page" }, heading, main),
  );
  return { main, api: client(session.csrf_token), me: session.staff };
}
