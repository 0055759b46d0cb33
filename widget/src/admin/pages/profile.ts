// Profile: one's own name, console language and password.
import "../people.css";
import { h, initials } from "../../shared/dom";
import { type Api, ApiError, shell } from "../shell";

interface Profile {
  staff: { id: number; email: string; name: string; role: string; console_language: string; photo_url: string | null };
  console_languages: { code: string; name: string }[];
}

void shell().then(async ({ main, api }) => {
  try {
    const profile = await api.get<Profile>("/api/v1/me/profile");
    main.append(profileForm(api, profile), photoForm(api, profile), passwordForm(api));
  } catch (error) {
    main.append(h("p", { class: "problem", role: "alert" }, message(error)));
  }
});

function message(error: unknown): string {
  return error instanceof ApiError ? error.message : String(error);
}

function profileForm(api: Api, profile: Profile): HTMLElement {
  const name = h("input", { type: "text", id: "me-name", required: true, maxlength: 80, value: profile.staff.name, autocomplete: "name" });
  const language = h(
    "select",
    { id: "me-language", "aria-describedby": "me-language-hint" },
    ...profile.console_languages.map(({ code, name: label }) => h("option", { value: code, selected: code === profile.staff.console_language }, label)),
  );
  const problem = h("p", { class: "problem", role: "alert" });
  const done = h("p", { class: "done", role: "status" });
  const save = h("button", { type: "submit", class: "primary" }, "Save");
  const form = h(
    "form",
    { class: "fields", novalidate: true },
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Email"),
      h("dd", {}, profile.staff.email),
      h("dt", {}, "Role"),
      h("dd", {}, profile.staff.role),
    ),
    h("div", { class: "field" }, h("label", { for: "me-name" }, "Name"), h("span", { class: "hint" }, "Customers see it when you answer."), name),
    h(
      "div",
      { class: "field" },
      h("label", { for: "me-language" }, "Console language"),
      h("span", { class: "hint", id: "me-language-hint" }, "Also the language of the emails Porchlight sends you."),
      language,
    ),
    problem,
    h("div", { class: "row" }, save, done),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    done.textContent = "";
    problem.textContent = name.value.trim() ? "" : "Write your name.";
    name.setAttribute("aria-invalid", String(!name.value.trim()));
    if (problem.textContent) return name.focus();
    save.disabled = true;
    api
      .patch<Profile>("/api/v1/me/profile", { name: name.value.trim(), console_language: language.value })
      .then((saved) => {
        done.textContent = "Saved.";
        const who = document.querySelector(".top .who");
        if (who) who.textContent = saved.staff.name;
      })
      .catch((error: unknown) => (problem.textContent = message(error)))
      .finally(() => (save.disabled = false));
  });
  return h("section", { class: "card", "aria-labelledby": "me-title" }, h("h2", { id: "me-title" }, "Your profile"), form);
}

function passwordForm(api: Api): HTMLElement {
  const field = (id: string, autocomplete: string) =>
    h("input", { type: "password", id, required: true, maxlength: 1024, autocomplete });
  const current = field("pw-current", "current-password");
  const next = field("pw-new", "new-password");
  const again = field("pw-again", "new-password");
  next.setAttribute("aria-describedby", "pw-hint");
  const problem = h("p", { class: "problem", role: "alert" });
  const done = h("p", { class: "done", role: "status" });
  const save = h("button", { type: "submit", class: "primary" }, "Change password");
  const form = h(
    "form",
    { class: "fields", novalidate: true },
    h("div", { class: "field" }, h("label", { for: "pw-current" }, "Current password"), current),
    h("div", { class: "field" }, h("label", { for: "pw-new" }, "New password"), h("span", { class: "hint", id: "pw-hint" }, "At least 10 characters."), next),
    h("div", { class: "field" }, h("label", { for: "pw-again" }, "Repeat the new password"), again),
    problem,
    h("div", { class: "row" }, save, done),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    done.textContent = "";
    for (const el of [current, next, again]) el.removeAttribute("aria-invalid");
    const [complaint, bad] = !current.value
      ? ["Write your current password.", current]
      : next.value.length < 10
        ? ["The new password needs at least 10 characters.", next]
        : next.value !== again.value
          ? ["The two new passwords are not the same.", again]
          : ["", null];
    problem.textContent = complaint;
    if (bad) {
      bad.setAttribute("aria-invalid", "true");
      return bad.focus();
    }
    save.disabled = true;
    api
      .post("/api/v1/me/password", { current_password: current.value, new_password: next.value })
      .then(() => {
        form.reset();
        done.textContent = "Password changed.";
      })
      .catch((error: unknown) => {
        problem.textContent = message(error);
        if (error instanceof ApiError && error.code === "password.wrong") {
          current.setAttribute("aria-invalid", "true");
          current.focus();
        }
      })
      .finally(() => (save.disabled = false));
  });
  return h("section", { class: "card", "aria-labelledby": "pw-title" }, h("h2", { id: "pw-title" }, "Password"), form);
}

const SIZE = 256;

/** The picture as a square JPEG of SIZE px, cropped to its middle: small enough to upload
 * and to show anywhere, whatever the camera made. */
async function squared(file: File): Promise<string> {
  const bitmap = await createImageBitmap(file);
  const side = Math.min(bitmap.width, bitmap.height);
  const canvas = h("canvas", { width: SIZE, height: SIZE });
  const context = canvas.getContext("2d");
  if (!context) throw new Error("This browser cannot prepare the photo.");
  context.drawImage(bitmap, (bitmap.width - side) / 2, (bitmap.height - side) / 2, side, side, 0, 0, SIZE, SIZE);
  bitmap.close();
  return canvas.toDataURL("image/jpeg", 0.85);
}

function photoForm(api: Api, profile: Profile): HTMLElement {
  const picture = h("div", { class: "avatar", "aria-hidden": "true" });
  const input = h("input", { type: "file", id: "photo-file", accept: "image/png,image/jpeg,image/webp", class: "sr" });
  const choose = h("label", { for: "photo-file", class: "button" }, "Choose a photo");
  const remove = h("button", { type: "button" }, "Remove photo");
  const problem = h("p", { class: "problem", role: "alert" });
  const done = h("p", { class: "done", role: "status" });
  const draw = (url: string | null) => {
    picture.replaceChildren(url ? h("img", { src: url, alt: "" }) : initials(profile.staff.name));
    remove.hidden = !url;
  };
  draw(profile.staff.photo_url);
  input.addEventListener("change", () => {
    const file = input.files?.[0];
    if (!file) return;
    problem.textContent = done.textContent = "";
    squared(file)
      .then((data) => api.put<{ photo_url: string | null }>("/api/v1/me/photo", { data }))
      .then(({ photo_url }) => {
        draw(photo_url);
        done.textContent = "Photo saved.";
      })
      .catch((error: unknown) => {
        problem.textContent = error instanceof ApiError ? error.message : "That file is not a picture this browser can read.";
      })
      .finally(() => (input.value = ""));
  });
  remove.addEventListener("click", () => {
    api
      .del<{ photo_url: null }>("/api/v1/me/photo")
      .then(() => {
        draw(null);
        done.textContent = "Photo removed.";
        input.focus();
      })
      .catch((error: unknown) => (problem.textContent = message(error)));
  });
  return h(
    "section",
    { class: "card", "aria-labelledby": "photo-title" },
    h("h2", { id: "photo-title" }, "Photo"),
    h("p", { class: "hint" }, "Customers may see it beside your messages. Without one, they see your initials."),
    h("div", { class: "row" }, picture, input, choose, remove),
    problem,
    done,
  );
}
