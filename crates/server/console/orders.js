// The orders screen: search by any number, filters, totals, cursor pages,
// CSV export of the filtered set, and live updates.

import { gql, session, subscribe } from "./gql.js";
import { h, show, field, select, table, toast, yuan, when } from "./ui.js";

const ORDER_FIELDS = `id merchant outTradeNo status provider amount refunded subject storeId
  terminalId providerOrderNo providerTradeNo createdAt paidAt updatedAt needsAttention asOf`;

const PAGE = 50;

const STATES = [["", "Any state"], ["PAYING", "Paying"], ["SUCCESS", "Paid"], ["FAILED", "Failed"],
  ["REVERSING", "Reversing"], ["REVOKED", "Revoked"], ["TRADE_CLOSED", "Trade closed"]];
const WALLETS = [["", "Any wallet"], ["WECHATPAY", "WeChat Pay"], ["ALIPAY", "Alipay"]];
const REFUND_STATES = [["", "Any refunds"], ["REQUESTED", "Refund requested"],
  ["PROCESSING", "Refund processing"], ["SUCCEEDED", "Refund succeeded"], ["FAILED", "Refund failed"],
  ["UNKNOWN", "Refund unconfirmed"], ["ABNORMAL", "Refund abnormal"]];

/** The filter as the form holds it, kept while the operator is signed in. */
const state = { form: {}, cursors: [null] };

/** Forgets the filter and the page: for the next one to sign in. */
export function forgetOrders() {
  state.form = {};
  state.cursors = [null];
}

/** The form's values as the API's `OrderFilterInput`. */
function filterOf(form) {
  const filter = {};
  const text = (key, name = key) => {
    const value = (form[name] ?? "").trim();
    if (value) filter[key] = value;
  };
  text("number");
  text("merchant");
  text("storeId");
  text("terminalId");
  text("amountMin");
  text("amountMax");
  if (form.status) filter.status = form.status;
  if (form.provider) filter.provider = form.provider;
  if (form.refundState) filter.refundState = form.refundState;
  if (form.createdFrom) filter.createdFrom = new Date(form.createdFrom).toISOString();
  if (form.createdTo) filter.createdTo = new Date(form.createdTo).toISOString();
  if (form.needsAttention === "on") filter.needsAttention = true;
  return filter;
}

export function orderLink(order) {
  return h("a", { href: `#/order/${encodeURIComponent(order.id)}` }, order.outTradeNo);
}

function statusBadge(order) {
  return h("span", { class: `status ${order.status.toLowerCase()}` }, order.status,
    order.needsAttention ? h("span", { class: "attention", title: "Needs attention" }, " ⚑ needs attention") : null);
}

export async function ordersScreen() {
  const f = state.form;
  const input = (name, attrs = {}) => h("input", { name, value: f[name] ?? "", ...attrs });
  const form = h("form", { class: "filters", role: "search" },
    field("Any number", input("number", { type: "search", placeholder: "order, trade, refund number", size: 34 })),
    session.me.merchant ? null : field("Merchant", input("merchant")),
    field("State", select("status", STATES, f.status ?? "")),
    field("Wallet", select("provider", WALLETS, f.provider ?? "")),
    field("Refunds", select("refundState", REFUND_STATES, f.refundState ?? "")),
    field("Store", input("storeId", { size: 10 })),
    field("Terminal", input("terminalId", { size: 10 })),
    field("Created from", input("createdFrom", { type: "datetime-local" })),
    field("Created before", input("createdTo", { type: "datetime-local" })),
    field("Amount from", input("amountMin", { inputmode: "decimal", size: 8, placeholder: "0.00" })),
    field("Amount to", input("amountMax", { inputmode: "decimal", size: 8, placeholder: "0.00" })),
    h("div", { class: "field check" },
      h("input", { type: "checkbox", name: "needsAttention", id: "f-attention", checked: f.needsAttention === "on" }),
      h("label", { for: "f-attention" }, "Needs attention only")),
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, "Search"),
      h("button", { type: "button", onclick: () => { state.form = {}; state.cursors = [null]; ordersScreen(); } }, "Clear"),
      h("button", { type: "button", onclick: () => exportCsv(filterOf(state.form)) }, "Export CSV")));
  const totals = h("p", { class: "totals", "aria-live": "polite" });
  const results = h("div", { class: "results" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    state.form = Object.fromEntries(new FormData(form).entries());
    state.cursors = [null];
    load();
  });
  show(h("h1", {}, "Orders"), form, totals, results, pager);

  let rows = new Map();
  async function load() {
    const filter = filterOf(state.form);
    const after = state.cursors[state.cursors.length - 1];
    let data;
    try {
      data = await gql(`query($filter: OrderFilterInput, $first: Int, $after: String) {
        orders(filter: $filter, first: $first, after: $after) {
          nodes { ${ORDER_FIELDS} } endCursor hasNextPage } }`,
      { filter, first: PAGE, after });
    } catch (error) {
      results.replaceChildren(h("p", { class: "error", role: "alert" }, `${error.code}: ${error.message}`));
      return;
    }
    const page = data.orders;
    // The totals pass over every matching order: asked apart, so the page
    // shows at once and the line fills in after.
    totals.textContent = "Counting…";
    gql(`query($filter: OrderFilterInput) { orders(filter: $filter, first: 1) { totals { count amount } } }`, { filter })
      .then((t) => {
        const { count, amount } = t.orders.totals;
        totals.textContent = `${count} ${count === 1 ? "order" : "orders"}, ${yuan(amount)} in all`;
      })
      .catch((error) => {
        totals.textContent = `The totals failed: ${error.code}`;
      });
    rows = new Map();
    const body = page.nodes.map((order) => {
      const cells = rowCells(order);
      rows.set(order.id, cells);
      return cells;
    });
    results.replaceChildren(table("Orders, newest first",
      ["Created", "Merchant", "Order number", "Wallet", "Amount", "Refunded", "State", "Store / terminal"],
      body.map((c) => c.cells), { class: "orders" }));
    page.nodes.forEach((order, i) => {
      const tr = results.querySelectorAll("tbody tr")[i];
      if (tr) {
        tr.dataset.id = order.id;
        rows.get(order.id).tr = tr;
      }
    });
    const pageNo = state.cursors.length;
    pager.replaceChildren(
      h("button", { type: "button", disabled: pageNo === 1, onclick: () => { state.cursors.pop(); load(); } }, "‹ Newer"),
      h("span", {}, ` Page ${pageNo} `),
      h("button", { type: "button", disabled: !page.hasNextPage, onclick: () => { state.cursors.push(page.endCursor); load(); } }, "Older ›"));
  }

  function rowCells(order) {
    return {
      cells: [when(order.createdAt), order.merchant, orderLink(order), order.provider,
        yuan(order.amount), yuan(order.refunded), statusBadge(order),
        [order.storeId, order.terminalId].filter(Boolean).join(" / ")],
    };
  }

  await load();
  // Live: a change to an order on screen updates its row; on the first
  // page a new order reloads the page (debounced), so it appears on top.
  let reload = null;
  const stop = subscribe(`subscription($merchant: String) { orderUpdates(merchant: $merchant) { ${ORDER_FIELDS} } }`,
    { merchant: session.me.merchant }, (data) => {
      const order = data.orderUpdates;
      const known = rows.get(order.id);
      if (known && known.tr) {
        const fresh = rowCells(order).cells;
        known.tr.replaceChildren(...fresh.map((c) => h("td", {}, c)));
        known.tr.classList.add("flash");
      } else if (state.cursors.length === 1) {
        clearTimeout(reload);
        reload = setTimeout(load, 300);
      }
    });
  return stop;
}

/** Every order the filter matches, page after page, as one CSV file. */
async function exportCsv(filter) {
  const columns = ["createdAt", "merchant", "outTradeNo", "provider", "amount", "refunded", "status",
    "storeId", "terminalId", "providerTradeNo", "providerOrderNo", "paidAt", "needsAttention"];
  const lines = [columns.join(",")];
  let after = null;
  toast("Exporting…");
  do {
    const data = await gql(`query($filter: OrderFilterInput, $after: String) {
      orders(filter: $filter, first: 500, after: $after) { nodes { ${columns.join(" ")} } endCursor hasNextPage } }`,
    { filter, after });
    for (const order of data.orders.nodes) lines.push(columns.map((c) => csvCell(order[c])).join(","));
    after = data.orders.hasNextPage ? data.orders.endCursor : null;
  } while (after);
  const blob = new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
  const link = h("a", { href: URL.createObjectURL(blob), download: "orders.csv" });
  document.body.append(link);
  link.click();
  link.remove();
  toast(`Exported ${lines.length - 1} orders.`);
}

/** One CSV cell: quoted when needed; a leading =, +, - or @ is defused so a spreadsheet never runs it. */
function csvCell(value) {
  if (value === null || value === undefined) return "";
  let text = String(value);
  if (/^[=+\-@]/.test(text) && !/^-?\d+(\.\d+)?$/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
