// Staff: the team, an invitation by email, edits of role, languages and capacity, and a
// password link for anyone who forgot theirs.
import { h } from "../../shared/dom";
import "../people.css";
import { type Api, ApiError, type Me, shell } from "../shell";

interface Member {
  id: number;
  email: string;
  name: string;
  role: Role;
  languages: string[];
  max_chats: number;
  max_calls: number;
  invited: boolean;
}
type Role = "admin" | "supervisor" | "agent";
interface LinkSent {
  staff: Member;
  url: string;
  expires_at: number;
}

const ROLES: [Role, string][] = [
  ["agent", "Agent: answers their own conversations and the queue"],
  ["supervisor", "Supervisor: also reads every conversation and the team's figures"],
  ["admin", "Admin: also changes settings and staff"],
];
// As routing matches them: "en", "pt-BR".
const LANGUAGE = /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/;

const list = h("div", { class: "scroll-x" });
const notice = h("div", { class: "card notice", role: "status", tabindex: -1, hidden: true });
const editor = h("div");
let team: Member[] = [];

void shell().then(async ({ main, api, me }) => {
  main.append(notice, h("section", { class: "card", "aria-labelledby": "team" }, h("h2", { id: "team" }, "Team"), list), editor, inviteForm(api, me));
  await refresh(api, me);
});

function say(...content: (Node | string)[]): void {
  notice.replaceChildren(...content);
  notice.hidden = content.length === 0;
}

// The whole team, page by page (the list is paginated like every REST list).
async function everyone(api: Api): Promise<Member[]> {
  const all: Member[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    const page: { staff: Member[]; next_cursor: string | null } = await api.get(`/api/v1/staff?limit=200${query}`);
    all.push(...page.staff);
    cursor = page.next_cursor;
  } while (cursor);
  return all;
}

async function refresh(api: Api, me: Me): Promise<void> {
  try {
    team = await everyone(api);
  } catch (error) {
    list.replaceChildren(h("p", { class: "problem", role: "alert" }, (error as Error).message));
    return;
  }
  list.replaceChildren(
    h(
      "table",
      { class: "list team" },
      h("thead", {}, h("tr", {}, ...["Name", "Email", "Role", "Languages", "Takes at once", "", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, ...team.map((member) => row(api, me, member))),
    ),
  );
}

function capacity(member: Member): string {
  const chats = `${member.max_chats} chat${member.max_chats === 1 ? "" : "s"}`;
  return member.max_calls ? `${chats} and 1 call` : `${chats}, no calls`;
}

function row(api: Api, me: Me, member: Member): HTMLElement {
  const edit = h("button", { type: "button", "aria-label": `Edit ${member.name}` }, "Edit");
  edit.addEventListener("click", () => openEditor(api, me, member, edit));
  const label = member.invited ? "Resend invitation" : "Send password reset";
  const link = h("button", { type: "button", class: "quiet", "aria-label": `${label} to ${member.name}` }, label);
  link.addEventListener("click", () => {
    link.disabled = true;
    api
      .post<LinkSent>(`/api/v1/staff/${member.id}/password-link`)
      .then((sent) => linkSent(sent, member.invited ? "An invitation" : "A password reset link"))
      .catch((error: unknown) => say(h("span", { class: "problem" }, message(error))))
      .finally(() => (link.disabled = false));
  });
  return h(
    "tr",
    {},
    h("td", { dir: "auto" }, h("strong", {}, member.name), member.id === me.id ? h("span", { class: "hint" }, " (you)") : null),
    h("td", { "data-label": "Email" }, member.email),
    h("td", { "data-label": "Role" }, member.role, member.invited ? h("span", { class: "badge" }, "Invited") : null),
    h("td", { "data-label": "Languages" }, member.languages.join(", ") || "Any"),
    h("td", { "data-label": "Takes at once" }, capacity(member)),
    h("td", { class: "actions" }, edit),
    h("td", { class: "actions" }, link),
  );
}

function linkSent(sent: LinkSent, what: string): void {
  const hours = Math.round((sent.expires_at * 1000 - Date.now()) / 3_600_000);
  const copy = h("button", { type: "button" }, "Copy link");
  copy.addEventListener("click", () => {
    navigator.clipboard.writeText(sent.url).then(
      () => (copy.textContent = "Copied"),
      () => (copy.textContent = "Select the link to copy it"),
    );
  });
  say(
    h("p", {}, `${what} is on its way to ${sent.staff.email}. It works once, for ${hours} hours.`),
    h("p", { class: "hint" }, "If the email does not arrive, give them this link yourself:"),
    h("pre", { class: "snippet", tabindex: 0 }, sent.url),
    h("div", { class: "row" }, copy),
  );
}

function message(error: unknown): string {
  return error instanceof ApiError ? error.message : String(error);
}

interface Fields {
  fields: HTMLElement[];
  read(): { body: Record<string, unknown>; complaint: string; bad?: HTMLElement };
}

/** The fields an invitation and an edit share, with ids under `prefix`. */
function memberFields(prefix: string, member?: Member): Fields {
  const id = (name: string) => `${prefix}-${name}`;
  const name = h("input", { type: "text", id: id("name"), required: true, maxlength: 80, value: member?.name ?? "", autocomplete: "off" });
  const role = h("select", { id: id("role") }, ...ROLES.map(([value, text]) => h("option", { value, selected: value === (member?.role ?? "agent") }, text)));
  const languages = h("input", {
    type: "text",
    id: id("languages"),
    value: member?.languages.join(", ") ?? "",
    "aria-describedby": id("languages-hint"),
    autocomplete: "off",
  });
  const chats = h("input", { type: "number", id: id("chats"), min: 1, max: 50, value: member?.max_chats ?? 3, inputmode: "numeric" });
  const calls = h("input", { type: "checkbox", id: id("calls"), checked: (member?.max_calls ?? 1) > 0 });
  return {
    fields: [
      h("div", { class: "field" }, h("label", { for: id("name") }, "Name"), name),
      h("div", { class: "field" }, h("label", { for: id("role") }, "Role"), role),
      h(
        "div",
        { class: "field" },
        h("label", { for: id("languages") }, "Languages"),
        h("span", { class: "hint", id: id("languages-hint") }, "Language codes separated by commas, such as en, pt-BR. Empty: any language."),
        languages,
      ),
      h("div", { class: "field" }, h("label", { for: id("chats") }, "Chats at once"), chats),
      h("div", { class: "row" }, calls, h("label", { for: id("calls") }, "Takes voice and video calls (one at a time)")),
    ],
    read() {
      const codes = languages.value.split(/[\s,]+/).filter(Boolean);
      const wrongCode = codes.find((code) => !LANGUAGE.test(code));
      const count = Number(chats.value);
      for (const el of [name, languages, chats]) el.removeAttribute("aria-invalid");
      const body = { name: name.value.trim(), role: role.value, languages: codes, max_chats: count, max_calls: calls.checked ? 1 : 0 };
      if (!body.name) return { body, complaint: "Write their name.", bad: name };
      if (wrongCode) return { body, complaint: `"${wrongCode}" is not a language code such as en or pt-BR.`, bad: languages };
      if (!Number.isInteger(count) || count < 1 || count > 50) return { body, complaint: "Chats at once: a whole number from 1 to 50.", bad: chats };
      return { body, complaint: "" };
    },
  };
}

function inviteForm(api: Api, me: Me): HTMLElement {
  const email = h("input", { type: "email", id: "invite-email", required: true, maxlength: 254, autocomplete: "off" });
  const { fields, read } = memberFields("invite");
  const problem = h("p", { class: "problem", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, "Send invitation");
  const form = h(
    "form",
    { class: "fields", novalidate: true },
    h("div", { class: "field" }, h("label", { for: "invite-email" }, "Email"), email),
    ...fields,
    problem,
    h("div", { class: "row" }, submit),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const { body, complaint, bad } = read();
    email.removeAttribute("aria-invalid");
    const address = email.value.trim();
    const wrong = !/^[^@\s]+@[^@\s]+\.[^@\s.]+$/.test(address) ? "Write their email address, such as ana@example.com." : complaint;
    const invalid = wrong && !complaint ? email : bad;
    problem.textContent = wrong;
    if (wrong) {
      invalid?.setAttribute("aria-invalid", "true");
      invalid?.focus();
      return;
    }
    submit.disabled = true;
    api
      .post<LinkSent>("/api/v1/staff/invitations", { ...body, email: address })
      .then(async (sent) => {
        form.reset();
        linkSent(sent, "The invitation");
        await refresh(api, me);
        notice.focus();
      })
      .catch((error: unknown) => {
        problem.textContent = message(error);
        if (error instanceof ApiError && error.code === "staff.exists") email.setAttribute("aria-invalid", "true");
      })
      .finally(() => (submit.disabled = false));
  });
  return h("section", { class: "card", "aria-labelledby": "invite" }, h("h2", { id: "invite" }, "Invite someone"), h("p", { class: "hint" }, "They get an email with a link to choose their password."), form);
}

function openEditor(api: Api, me: Me, member: Member, opener: HTMLElement): void {
  const { fields, read } = memberFields("edit", member);
  const problem = h("p", { class: "problem", role: "alert" });
  const save = h("button", { type: "submit", class: "primary" }, "Save");
  const cancel = h("button", { type: "button" }, "Cancel");
  const close = () => {
    editor.replaceChildren();
    opener.focus();
  };
  cancel.addEventListener("click", close);
  const form = h("form", { class: "fields", novalidate: true }, ...fields, problem, h("div", { class: "row" }, save, cancel));
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const { body, complaint, bad } = read();
    problem.textContent = complaint;
    if (complaint) {
      bad?.setAttribute("aria-invalid", "true");
      bad?.focus();
      return;
    }
    save.disabled = true;
    api
      .patch<{ staff: Member }>(`/api/v1/staff/${member.id}`, body)
      .then(async ({ staff }) => {
        editor.replaceChildren();
        say(h("p", {}, `Saved ${staff.name}.`));
        await refresh(api, me);
        notice.focus();
      })
      .catch((error: unknown) => (problem.textContent = message(error)))
      .finally(() => (save.disabled = false));
  });
  const section = h(
    "section",
    { class: "card", "aria-labelledby": "edit-title" },
    h("h2", { id: "edit-title", dir: "auto" }, `Edit ${member.name}`),
    h("p", { class: "hint" }, member.email),
    form,
  );
  editor.replaceChildren(section);
  section.querySelector("input")?.focus();
}
