// The console: sign-in, the navigation, and a screen per hash route.
// Every screen talks to /graphql like any other client; what a role may
// not do is not shown (the server refuses it anyway).

import { gql, session } from "./gql.js";
import { h, show, field } from "./ui.js";
import { ordersScreen, forgetOrders } from "./orders.js";
import { orderScreen } from "./order.js";
import { queueScreen, reconciliationScreen, dailyScreen, projectionsScreen } from "./screens.js";

const routes = [
  [/^#\/orders$/, () => ordersScreen()],
  [/^#\/order\/(.+)$/, (id) => orderScreen(decodeURIComponent(id))],
  [/^#\/queue$/, () => queueScreen()],
  [/^#\/reconciliation$/, () => reconciliationScreen()],
  [/^#\/daily$/, () => dailyScreen()],
  [/^#\/projections$/, () => projectionsScreen()],
];

/** What the screen being left must stop (its subscription). */
let leave = null;

async function route() {
  if (leave) {
    leave();
    leave = null;
  }
  if (!session.token || !session.me) return signIn();
  const hash = location.hash || "#/orders";
  for (const [pattern, screen] of routes) {
    const match = hash.match(pattern);
    if (match) {
      markCurrent(hash);
      try {
        leave = (await screen(...match.slice(1))) ?? null;
      } catch (error) {
        show(h("h1", {}, "Something went wrong"), h("p", { class: "error" }, `${error.code ?? ""} ${error.message}`));
      }
      return;
    }
  }
  location.hash = "#/orders";
}

function markCurrent(hash) {
  for (const link of document.querySelectorAll("#nav a")) {
    const current = hash.startsWith(link.getAttribute("href")) ||
      (hash.startsWith("#/order/") && link.getAttribute("href") === "#/orders");
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function chrome() {
  const signedIn = session.me !== null;
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("sign-out").hidden = !signedIn;
  const who = document.getElementById("who");
  who.textContent = signedIn
    ? `${session.me.name} · ${session.me.role.toLowerCase()}${session.me.merchant ? ` · ${session.me.merchant}` : ""}`
    : "";
  for (const link of document.querySelectorAll('#nav [data-needs="unscoped"]')) {
    link.hidden = !signedIn || session.me.merchant !== null;
  }
}

function signIn(message = "") {
  chrome();
  const token = h("input", { type: "password", name: "token", required: true, autocomplete: "current-password" });
  const error = h("p", { class: "error", role: "alert" }, message);
  const form = h("form", { class: "sign-in" },
    h("h1", {}, "Sign in"),
    h("p", {}, "Enter your operator token. It stays in this tab only and is forgotten when the tab closes."),
    field("Operator token", token),
    error,
    h("button", { type: "submit", class: "primary" }, "Sign in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    session.token = token.value.trim();
    try {
      const data = await gql("{ me { name role merchant } }");
      session.me = data.me;
      chrome();
      if (!location.hash || location.hash === "#/sign-in") location.hash = "#/orders";
      else route();
    } catch (e) {
      session.token = null;
      error.textContent = e.code === "UNAUTHENTICATED" ? "That token is not one paycode knows." : e.message;
    }
  });
  show(form);
  token.focus();
}

function signOut(message = "") {
  if (leave) {
    leave();
    leave = null;
  }
  session.token = null;
  session.me = null;
  forgetOrders();
  signIn(message);
}

async function start() {
  document.getElementById("sign-out").addEventListener("click", () => signOut("Signed out."));
  window.addEventListener("paycode:signed-out", () => signOut("The token was refused; sign in again."));
  window.addEventListener("hashchange", route);
  if (session.token) {
    try {
      session.me = (await gql("{ me { name role merchant } }")).me;
    } catch {
      session.token = null;
    }
  }
  chrome();
  route();
}

start();
