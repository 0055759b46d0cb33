// Caught email: in development (make demo) every email Porchlight sends lands here instead
// of in someone's inbox, so the whole flow can be tried without a mail server.
import "../people.css";
import { h, linkify } from "../../shared/dom";
import { type Api, errorText, shell } from "../shell";

interface Caught {
  number: number;
  received_at: number;
  to: string[];
  subject: string;
  text: string;
  html: string;
}

const list = h("div", { class: "sites", "aria-live": "polite" });
let newest = -1;

void shell().then(async ({ main, api }) => {
  const reload = h("button", { type: "button" }, "Check for new email");
  reload.addEventListener("click", () => void refresh(api));
  main.append(
    h(
      "p",
      { class: "card hint" },
      "Porchlight is running with its development mail catcher: the emails it sends are kept here and never leave this computer. ",
      "Set smtp_host to send real email.",
    ),
    h("div", { class: "row" }, reload),
    list,
  );
  await refresh(api);
  // New emails show up by themselves while the page is open.
  setInterval(() => void refresh(api), 3000);
});

async function refresh(api: Api): Promise<void> {
  try {
    const { emails } = await api.get<{ emails: Caught[] }>("/api/v1/caught-mail");
    const top = emails[0]?.number ?? 0;
    if (top === newest) return;
    newest = top;
    list.replaceChildren(
      ...(emails.length ? emails.map(card) : [h("p", { class: "card hint" }, "No email yet. Invite someone on the Staff page to see one arrive.")]),
    );
  } catch (error) {
    newest = -1; // the next answer, even an unchanged one, replaces this alert
    list.replaceChildren(h("p", { class: "problem", role: "alert" }, errorText(error)));
  }
}

function card(email: Caught): HTMLElement {
  const id = `mail-${email.number}`;
  const when = new Date(email.received_at * 1000).toLocaleString();
  return h(
    "article",
    { class: "card", "aria-labelledby": id },
    h("h2", { id, dir: "auto" }, email.subject || "(no subject)"),
    h("p", { class: "mail-meta" }, `To ${email.to.join(", ")} · ${when}`),
    h("pre", { class: "mail-body", dir: "auto" }, linkify(email.text)),
    email.html
      ? h("p", {}, h("a", { href: `/api/v1/caught-mail/${email.number}/html`, target: "_blank", rel: "noopener" }, "View as the recipient sees it (HTML)"))
      : null,
  );
}
