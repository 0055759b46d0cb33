import { h } from "../shared/dom";
import { login, RequestError, type Session } from "./api";

/** The sign-in form; calls `signedIn` with the new session. */
export function loginForm(
  productName: string,
  signedIn: (session: Session) => void,
  notice = "",
): HTMLElement {
  const email = h("input", {
    id: "email",
    type: "email",
    name: "email",
    autocomplete: "username",
    required: true,
  });
  const password = h("input", {
    id: "password",
    type: "password",
    name: "password",
    autocomplete: "current-password",
    required: true,
  });
  const problem = h("p", { class: "problem", role: "alert" }, notice);
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    { class: "login" },
    h("h1", {}, productName),
    h("label", { for: "email" }, "Email"),
    email,
    h("label", { for: "password" }, "Password"),
    password,
    problem,
    submit,
    h("a", { href: "/account/forgot", class: "forgot" }, "Forgot your password?"),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    submit.disabled = true;
    problem.textContent = "";
    login(email.value.trim(), password.value)
      .then(signedIn)
      .catch((err: unknown) => {
        problem.textContent =
          err instanceof RequestError ? err.message : "Can't reach the server. Try again.";
        password.select();
      })
      .finally(() => (submit.disabled = false));
  });
  queueMicrotask(() => email.focus());
  return h("main", { class: "center" }, form);
}
