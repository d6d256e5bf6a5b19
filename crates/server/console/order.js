// One order: its state and amounts, its refunds, the whole event timeline,
// and what an operator may do to it, each confirmed with the money named.

import { gql, can, subscribe } from "./gql.js";
import { h, show, field, select, table, dialog, toast, yuan, when } from "./ui.js";

const DETAIL = `id merchant outTradeNo status provider amount refunded subject storeId terminalId
  providerOrderNo providerTradeNo createdAt paidAt updatedAt needsAttention asOf
  refunds { outRefundNo amount state providerRefundId reason requestedBy requestedAt updatedAt }
  history(first: 1000) { position eventType at providerCode providerMessage by reason note attempt
    source outRefundNo providerRefundNo amount refundState providerTradeNo }`;

const WRITE = `position projected order { id }`;

/** Fen from a yuan string ("12.30" -> 1230), for comparing amounts exactly. */
function fen(yuanText) {
  const [whole, part = ""] = String(yuanText).split(".");
  return Number(whole) * 100 + Number((part + "00").slice(0, 2));
}

function yuanOf(fenValue) {
  return `${Math.floor(fenValue / 100)}.${String(fenValue % 100).padStart(2, "0")}`;
}

export async function orderScreen(id) {
  const data = await gql(`query($id: String) { order(id: $id) { ${DETAIL} } }`, { id });
  const order = data.order;
  if (!order) {
    show(h("h1", {}, "No such order"), h("p", {}, "It does not exist, or your token does not see it."),
      h("a", { href: "#/orders" }, "Back to the orders"));
    return null;
  }
  render(order);
  // Live: any change to this order reloads it.
  return subscribe(`subscription($merchant: String) { orderUpdates(merchant: $merchant) { id asOf } }`,
    { merchant: order.merchant }, async (update) => {
      if (update.orderUpdates.id !== order.id) return;
      const fresh = await gql(`query($id: String) { order(id: $id) { ${DETAIL} } }`, { id });
      if (fresh.order) render(fresh.order);
    });
}

function render(order) {
  const facts = [
    ["Merchant", order.merchant], ["Order number", order.outTradeNo], ["State", order.status],
    ["Wallet", order.provider], ["Amount", yuan(order.amount)], ["Refunded", yuan(order.refunded)],
    ["Subject", order.subject], ["Store / terminal", [order.storeId, order.terminalId].filter(Boolean).join(" / ")],
    ["Provider trade number", order.providerTradeNo ?? "—"], ["Provider order number", order.providerOrderNo],
    ["Created", when(order.createdAt)], ["Paid", when(order.paidAt) || "—"], ["Updated", when(order.updatedAt)],
    ["Needs attention", order.needsAttention ? "yes" : "no"],
  ];
  show(
    h("p", {}, h("a", { href: "#/orders" }, "‹ Orders")),
    h("h1", {}, `Order ${order.outTradeNo}`),
    h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    actions(order),
    table("Refunds", ["Refund number", "Amount", "State", "Provider refund id", "Reason", "By", "Requested", "Updated", ""],
      order.refunds.map((r) => [r.outRefundNo, yuan(r.amount), r.state, r.providerRefundId ?? "", r.reason ?? "",
        r.requestedBy ?? "", when(r.requestedAt), when(r.updatedAt), refundAction(order, r)])),
    table("Timeline: every event of the order, oldest first",
      ["#", "Time", "Event", "Provider code", "Provider message", "Who", "Why / note", "Refund", "Amount", "Refund state"],
      order.history.map((e) => [e.position, when(e.at), e.eventType + (e.attempt ? ` (attempt ${e.attempt}${e.source ? `, ${e.source}` : ""})` : ""),
        e.providerCode ?? "", e.providerMessage ?? "", e.by ?? "", [e.reason, e.note].filter(Boolean).join(" — "),
        e.outRefundNo ?? "", e.amount ? yuan(e.amount) : "", e.refundState ?? ""]),
      { class: "timeline" }));
}

function actions(order) {
  if (!can("OPERATOR")) return null;
  const paid = fen(order.amount);
  const refunded = fen(order.refunded);
  const buttons = [];
  if (order.status === "SUCCESS" && refunded < paid) {
    buttons.push(h("button", { type: "button", onclick: () => refund(order) }, "Refund…"));
  }
  if (order.status === "PAYING" || order.status === "SUCCESS") {
    buttons.push(h("button", { type: "button", onclick: () => reverse(order) }, "Reverse…"));
  }
  if (order.needsAttention) {
    buttons.push(h("button", { type: "button", onclick: () => resolveOrder(order) }, "Resolve…"));
  }
  return buttons.length === 0 ? null : h("div", { class: "actions", role: "group", "aria-label": "Actions" }, buttons);
}

async function write(mutation, variables, done) {
  try {
    const data = await gql(mutation, variables);
    toast(done, "ok");
    return data;
  } catch (error) {
    toast(`${error.code}: ${error.message}`, "error");
    return null;
  }
}

async function refund(order) {
  const left = fen(order.amount) - fen(order.refunded);
  const amount = h("input", { name: "amount", inputmode: "decimal", required: true, value: yuanOf(left) });
  const number = h("input", { name: "outRefundNo", required: true, maxlength: 64,
    value: `rf-${Date.now().toString(36)}` });
  const reason = h("input", { name: "reason", maxlength: 80 });
  const values = await dialog({
    title: "Refund",
    lines: [`Order ${order.outTradeNo} (${order.provider}): paid ${yuan(order.amount)}, refunded ${yuan(order.refunded)}, ${yuan(yuanOf(left))} can still be refunded.`,
      "The money goes back to the customer's wallet; a refund cannot be taken back."],
    fields: [field("Amount (yuan)", amount), field("Refund number", number), field("Reason (optional, at most 80 characters)", reason)],
    confirm: "Refund",
    check: (v) => {
      if (!/^\d+(\.\d{1,2})?$/.test(v.amount)) return "The amount is yuan with at most two decimals, e.g. 12.50.";
      const asked = fen(v.amount);
      if (asked <= 0) return "The amount must be above zero.";
      if (asked > left) return `At most ${yuan(yuanOf(left))} can still be refunded.`;
      return null;
    },
  });
  if (!values) return;
  const ok = await dialog({
    title: "Confirm the refund",
    lines: [`Refund ${yuan(yuanOf(fen(values.amount)))} of order ${order.outTradeNo} to the customer, as ${values.outRefundNo}?`],
    confirm: `Refund ${yuan(yuanOf(fen(values.amount)))}`,
  });
  if (!ok) return;
  await write(`mutation($m: String!, $o: String!, $r: String!, $a: String!, $reason: String) {
    requestRefund(merchant: $m, outTradeNo: $o, outRefundNo: $r, amount: $a, reason: $reason) { ${WRITE} } }`,
  { m: order.merchant, o: order.outTradeNo, r: values.outRefundNo, a: values.amount, reason: values.reason || null },
  `Refund ${values.outRefundNo} requested.`);
}

async function reverse(order) {
  const what = order.status === "SUCCESS"
    ? `The customer paid ${yuan(order.amount)}: the whole amount (less ${yuan(order.refunded)} already refunded) goes back to them and the order ends REVOKED.`
    : `The payment of ${yuan(order.amount)} is still open: it is closed at the provider, so the customer cannot be charged.`;
  const ok = await dialog({ title: "Reverse the order", lines: [`Order ${order.outTradeNo} (${order.provider}).`, what], confirm: "Reverse" });
  if (!ok) return;
  await write(`mutation($m: String!, $o: String!) { requestReversal(merchant: $m, outTradeNo: $o) { ${WRITE} } }`,
    { m: order.merchant, o: order.outTradeNo }, "Reversal requested.");
}

async function resolveOrder(order) {
  const outcome = select("outcome", [["REVERSED", "Reversed: the trade is closed or the money went back"],
    ["PAID", "Paid: the customer paid and the merchant keeps it"], ["NOT_CHARGED", "Not charged: nothing was taken"]]);
  const trade = h("input", { name: "providerTradeNo", value: order.providerTradeNo ?? "" });
  const note = h("textarea", { name: "note", required: true, rows: 3 });
  const values = await dialog({
    title: "Resolve by hand",
    lines: [`Order ${order.outTradeNo}, ${yuan(order.amount)} on ${order.provider}: say what you checked at the provider.`],
    fields: [field("Outcome", outcome), field("Provider trade number (when paid)", trade), field("Note (required)", note)],
    confirm: "Record the resolution",
    check: (v) => (v.note.trim() ? null : "A note saying what was checked is required."),
  });
  if (!values) return;
  await write(`mutation($m: String!, $o: String!, $outcome: ManualOutcomeKind!, $t: String, $note: String!) {
    resolveManually(merchant: $m, outTradeNo: $o, outcome: $outcome, providerTradeNo: $t, note: $note) { ${WRITE} } }`,
  { m: order.merchant, o: order.outTradeNo, outcome: values.outcome, t: values.providerTradeNo || null, note: values.note },
  "Resolution recorded.");
}

function refundAction(order, refund) {
  if (!can("OPERATOR") || !["ABNORMAL", "UNKNOWN"].includes(refund.state)) return "";
  return h("button", { type: "button", onclick: () => resolveRefund(order, refund) }, "Resolve…");
}

async function resolveRefund(order, refund) {
  const resolution = select("resolution", [["REFUNDED", "Refunded: the customer got the money"],
    ["NOT_REFUNDED", "Not refunded: the amount is free again"], ["RESEND", "Send it to the provider again"]]);
  const note = h("textarea", { name: "note", required: true, rows: 3 });
  const values = await dialog({
    title: "Resolve a refund",
    lines: [`Refund ${refund.outRefundNo} of ${yuan(refund.amount)} on order ${order.outTradeNo} is ${refund.state}.`],
    fields: [field("Resolution", resolution), field("Note (required)", note)],
    confirm: "Record the resolution",
    check: (v) => (v.note.trim() ? null : "A note saying what was checked is required."),
  });
  if (!values) return;
  await write(`mutation($m: String!, $o: String!, $r: String!, $res: RefundResolutionKind!, $note: String!) {
    resolveRefund(merchant: $m, outTradeNo: $o, outRefundNo: $r, resolution: $res, note: $note) { ${WRITE} } }`,
  { m: order.merchant, o: order.outTradeNo, r: refund.outRefundNo, res: values.resolution, note: values.note },
  "Refund resolution recorded.");
}
