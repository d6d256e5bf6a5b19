// Small DOM helpers. Text always goes in as text (never as HTML), so
// nothing an order carries can run as script in the console.

/** `h("a", { href: "#/x" }, "text", child)`: an element with attributes and children. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces the screen's content and moves focus to it. */
export function show(...children) {
  const main = document.getElementById("main");
  main.replaceChildren(...children);
  const heading = main.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
}

/** "¥12.00" from the API's yuan string. */
export function yuan(amount) {
  return amount === null || amount === undefined ? "" : `¥${amount}`;
}

/** A local date and time from an RFC 3339 instant. */
export function when(instant) {
  if (!instant) return "";
  const d = new Date(instant);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A short message at the bottom of the screen (read out by screen readers). */
export function toast(message, kind = "info") {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.className = kind;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => {
    el.textContent = "";
    el.className = "";
  }, 6000);
}

/** A table from column headings and rows of cells (text or elements), in a
 * box that scrolls sideways on a narrow screen instead of the page. */
export function table(caption, headings, rows, attrs = {}) {
  return h("div", { class: "scroll" }, h("table", attrs,
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, headings.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.length === 0
      ? h("tr", {}, h("td", { colspan: headings.length, class: "empty" }, "Nothing here."))
      : rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c)))))));
}

/** A labelled form control. */
export function field(label, control) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), control);
}

/** A `<select>` of `[value, text]` options. */
export function select(name, options, value = "") {
  return h("select", { name },
    options.map(([v, t]) => h("option", { value: v, selected: v === value }, t)));
}

/**
 * A modal dialog: a title, lines stating what will happen (the money), the
 * form's fields, and Confirm / Cancel. Resolves to the form's values, or
 * `null` when cancelled. `check(values)` may return a message that keeps
 * the dialog open.
 */
export function dialog({ title, lines = [], fields = [], confirm = "Confirm", check = () => null }) {
  return new Promise((resolve) => {
    const error = h("p", { class: "error", role: "alert" });
    const form = h("form", { method: "dialog", novalidate: true },
      h("h2", {}, title),
      lines.map((line) => h("p", {}, line)),
      fields,
      error,
      h("div", { class: "actions" },
        h("button", { type: "submit", value: "confirm", class: "primary" }, confirm),
        h("button", { type: "button", value: "cancel", onclick: () => close(null) }, "Cancel")));
    const box = h("dialog", { "aria-label": title }, form);
    const close = (value) => {
      box.close();
      box.remove();
      resolve(value);
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const values = Object.fromEntries(new FormData(form).entries());
      const problem = check(values);
      if (problem) {
        error.textContent = problem;
        return;
      }
      close(values);
    });
    box.addEventListener("cancel", (event) => {
      event.preventDefault();
      close(null);
    });
    document.body.append(box);
    box.showModal();
  });
}
