import "./console.css";
import { readConfig } from "../shared/config";
import { h } from "../shared/dom";
import { me, type Session } from "./api";
import { Desk } from "./desk";
import { loginForm } from "./login";

// `signedIn: false` (when the page knows there is no session) skips a /me call that would
// answer 401, which browsers log as a console error.
const config = readConfig<{ productName?: string; signedIn?: boolean; settings?: Record<string, string> }>();
const productName = config.productName || "Porchlight";

function signIn(notice?: string): void {
  document.body.replaceChildren(loginForm(productName, signedIn, notice));
}

function signedIn(session: Session): void {
  document.body.replaceChildren(new Desk(session, productName, signIn, config.settings?.[session.staff.role]).el);
}

(config.signedIn === false ? Promise.resolve(null) : me()).then(
  (session) => (session ? signedIn(session) : signIn()),
  () => {
    const retry = h("button", { type: "button" }, "Try again");
    retry.addEventListener("click", () => location.reload());
    document.body.replaceChildren(
      h("main", { class: "center" }, h("p", { role: "alert" }, "Can't reach the server."), retry),
    );
  },
);
