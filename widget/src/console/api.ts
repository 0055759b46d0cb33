// The console's HTTP calls. All same-origin JSON; the session cookie is HttpOnly, so the
// CSRF token from /me or /login is what state-changing requests prove themselves with.
// The bodies' types are generated from the server's models (api.gen.ts).

import type {
  ErrorEnvelope,
  Login,
  Ok,
  SessionView,
  SignedOutEverywhere,
  StaffView,
} from "../api.gen";

export type Staff = StaffView;
export type Session = SessionView;

/** A refused request, with the server's user-safe message and catalogue code. */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: ErrorEnvelope["error"]["code"] | null = null,
  ) {
    super(message);
  }
}

/** The signed-in staff member, or null when nobody is signed in (401). */
export async function me(): Promise<Session | null> {
  const response = await fetch("/api/v1/me", { credentials: "same-origin" });
  if (response.status === 401) return null;
  const session = await read<Partial<Session>>(response);
  return session.staff && session.csrf_token ? (session as Session) : null;
}

export async function login(email: string, password: string): Promise<Session> {
  const body: Login = { email, password };
  return read<Session>(await post("/api/v1/auth/login", body, null));
}

export async function logout(csrf: string): Promise<void> {
  await post("/api/v1/auth/logout", {}, csrf);
}

/** Ends every session of the signed-in staff member, on every device; throws if refused. */
export async function logoutEverywhere(csrf: string): Promise<void> {
  await read<SignedOutEverywhere | Ok>(await post("/api/v1/auth/logout-everywhere", {}, csrf));
}

/** A site's outcome tags (its shift rules), for the outcome a staff member picks. */
export async function outcomeTags(siteKey: string): Promise<string[]> {
  const response = await fetch(`/api/v1/sites/${encodeURIComponent(siteKey)}/shift`, {
    credentials: "same-origin",
  });
  return (await read<{ shift: { outcome_tags: string[] } }>(response)).shift.outcome_tags;
}

function post(url: string, body: object, csrf: string | null): Promise<Response> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (csrf) headers["X-CSRF-Token"] = csrf;
  return fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers,
    body: JSON.stringify(body),
  });
}

async function read<T>(response: Response): Promise<T> {
  const body: unknown = await response.json().catch(() => null);
  if (response.ok && body) return body as T;
  const error = (body as Partial<ErrorEnvelope> | null)?.error;
  throw new RequestError(
    response.status,
    error?.message ?? `The server said ${response.status}.`,
    error?.code ?? null,
  );
}
