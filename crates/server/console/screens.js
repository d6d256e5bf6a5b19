// The manual queue, reconciliation, daily totals and projections screens.

import { gql, can, session } from "./gql.js";
import { h, show, field, select, table, dialog, toast, yuan, when } from "./ui.js";

/** Today's Beijing date, `YYYY-MM-DD`, moved by `days`. */
function beijingDay(days = 0) {
  const at = new Date(Date.now() + 8 * 3600_000 + days * 86_400_000);
  return at.toISOString().slice(0, 10);
}

function merchantInput(required = false) {
  return session.me.merchant
    ? h("input", { name: "merchant", value: session.me.merchant, readonly: true })
    : h("input", { name: "merchant", required, placeholder: required ? "merchant id" : "all merchants" });
}

// ---- manual queue -------------------------------------------------------

export async function queueScreen() {
  const items = [];
  let after = null;
  do {
    const data = await gql(`query($after: String) { manualInterventions(first: 500, after: $after) {
      nodes { orderId merchant outTradeNo provider amount status abandonReason reversalReason
        reversalAttempts since lastProviderCode lastProviderMessage } endCursor hasNextPage } }`, { after });
    items.push(...data.manualInterventions.nodes);
    after = data.manualInterventions.hasNextPage ? data.manualInterventions.endCursor : null;
  } while (after);
  const rows = items.map((item) => [
    when(item.since), item.merchant,
    h("a", { href: `#/order/${encodeURIComponent(item.orderId)}` }, item.outTradeNo),
    item.provider, yuan(item.amount), item.status,
    why(item),
    can("OPERATOR") ? h("button", { type: "button", onclick: () => resolve(item) }, "Resolve…") : "",
  ]);
  show(h("h1", {}, "Manual queue"),
    h("p", {}, "Orders paycode could not settle by itself, oldest first. Check each at the provider, then record what you found."),
    table(`${rows.length} ${rows.length === 1 ? "order" : "orders"} waiting`, ["Since", "Merchant", "Order", "Wallet", "Amount", "State", "Why", ""], rows));
  return null;
}

function why(item) {
  const parts = [];
  if (item.reversalReason) parts.push(`reversal asked: ${item.reversalReason}`);
  if (item.abandonReason) parts.push(`given up: ${item.abandonReason} after ${item.reversalAttempts} attempts`);
  if (item.lastProviderCode) parts.push(`last answer ${item.lastProviderCode} ${item.lastProviderMessage ?? ""}`.trim());
  return parts.join("; ");
}

async function resolve(item) {
  const outcome = select("outcome", [["REVERSED", "Reversed: the trade is closed or the money went back"],
    ["PAID", "Paid: the customer paid and the merchant keeps it"], ["NOT_CHARGED", "Not charged: nothing was taken"]]);
  const trade = h("input", { name: "providerTradeNo" });
  const note = h("textarea", { name: "note", required: true, rows: 3 });
  const values = await dialog({
    title: "Resolve by hand",
    lines: [`Order ${item.outTradeNo}, ${yuan(item.amount)} on ${item.provider} (${why(item)}).`],
    fields: [field("Outcome", outcome), field("Provider trade number (when paid)", trade), field("Note (required)", note)],
    confirm: "Record the resolution",
    check: (v) => (v.note.trim() ? null : "A note saying what was checked is required."),
  });
  if (!values) return;
  try {
    await gql(`mutation($m: String!, $o: String!, $outcome: ManualOutcomeKind!, $t: String, $note: String!) {
      resolveManually(merchant: $m, outTradeNo: $o, outcome: $outcome, providerTradeNo: $t, note: $note) { position } }`,
    { m: item.merchant, o: item.outTradeNo, outcome: values.outcome, t: values.providerTradeNo || null, note: values.note });
    toast("Resolution recorded.", "ok");
    queueScreen();
  } catch (error) {
    toast(`${error.code}: ${error.message}`, "error");
  }
}

// ---- reconciliation -----------------------------------------------------

/** A day's figures; its discrepancies are read when the day is opened. */
const REPORT = `provider merchant day runs ranAt billSource open shortCount shortTotal longCount longTotal net
  matchedPayments matchedRefunds matchedReversals bill { paymentCount } ledger { paymentCount } warnings`;
const DISCREPANCIES = `discrepancies { id status kind subject order outRefundNo billAmount ledgerAmount detail
  foundAt resolution { outcome by note at } }`;

export async function reconciliationScreen() {
  const form = h("form", { class: "filters" },
    field("Merchant", merchantInput()),
    field("Wallet", select("provider", [["", "Both"], ["WECHATPAY", "WeChat Pay"], ["ALIPAY", "Alipay"]])),
    field("From", h("input", { type: "date", name: "from", value: beijingDay(-30) })),
    field("To", h("input", { type: "date", name: "to", value: beijingDay(-1) })),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Show")));
  const results = h("div");
  /** The days whose discrepancies are shown, kept across reloads. */
  const opened = new Set();
  const runForm = can("OPERATOR") ? runDay() : null;
  const load = async () => {
    const v = Object.fromEntries(new FormData(form).entries());
    try {
      const data = await gql(`query($m: String, $p: ProviderName, $f: String, $t: String) {
        reconciliationReports(merchant: $m, provider: $p, from: $f, to: $t) { ${REPORT} } }`,
      { m: v.merchant || null, p: v.provider || null, f: v.from || null, t: v.to || null });
      results.replaceChildren(...data.reconciliationReports.map(report));
      if (data.reconciliationReports.length === 0) results.replaceChildren(h("p", {}, "No day was reconciled in this range."));
    } catch (error) {
      results.replaceChildren(h("p", { class: "error", role: "alert" }, `${error.code}: ${error.message}`));
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  show(h("h1", {}, "Reconciliation"), form, runForm, results);
  await load();
  return null;

  function runDay() {
    const run = h("form", { class: "filters run" },
      h("h2", {}, "Run a day"),
      field("Merchant", merchantInput(true)),
      field("Wallet", select("provider", [["WECHATPAY", "WeChat Pay"], ["ALIPAY", "Alipay"]])),
      field("Day (Beijing)", h("input", { type: "date", name: "day", value: beijingDay(-1), required: true })),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Download the bill and reconcile")));
    run.addEventListener("submit", async (event) => {
      event.preventDefault();
      const v = Object.fromEntries(new FormData(run).entries());
      try {
        const data = await gql(`mutation($p: ProviderName!, $m: String!, $d: String!) {
          runReconciliation(provider: $p, merchant: $m, day: $d) { appended newDiscrepancies report { open } } }`,
        { p: v.provider, m: v.merchant, d: v.day });
        const r = data.runReconciliation;
        toast(r.appended ? `Recorded: ${r.newDiscrepancies} new discrepancies, ${r.report.open} open.` : "Nothing new: the bill says what the last run found.", "ok");
        load();
      } catch (error) {
        toast(`${error.code}: ${error.message}`, "error");
      }
    });
    return run;
  }

  function report(r) {
    const key = `${r.provider}/${r.merchant}/${r.day}`;
    const details = h("div");
    const open = async () => {
      opened.add(key);
      try {
        const data = await gql(`query($p: ProviderName!, $m: String!, $d: String!) {
          reconciliationReport(provider: $p, merchant: $m, day: $d) { ${DISCREPANCIES} } }`,
        { p: r.provider.toUpperCase(), m: r.merchant, d: r.day });
        const rows = (data.reconciliationReport?.discrepancies ?? []).map((d) => [d.status, d.kind, d.subject,
          d.order ?? "", d.outRefundNo ?? "", yuan(d.billAmount), yuan(d.ledgerAmount), d.detail,
          d.resolution ? `${d.resolution.outcome} by ${d.resolution.by}: ${d.resolution.note}` :
            (d.status === "open" && can("OPERATOR") ? h("button", { type: "button", onclick: () => resolveDiscrepancy(r, d) }, "Resolve…") : "")]);
        details.replaceChildren(table("Discrepancies, open first",
          ["Status", "Kind", "Subject", "Order", "Refund", "Bill", "Ledger", "Detail", "Resolution"], rows));
      } catch (error) {
        details.replaceChildren(h("p", { class: "error", role: "alert" }, `${error.code}: ${error.message}`));
      }
    };
    return h("section", { class: `report ${r.open ? "open" : "clean"}` },
      h("h2", {}, `${r.day} · ${r.provider} · ${r.merchant}`),
      h("p", {}, r.open === 0 ? "Clean: no open discrepancy." :
        `${r.open} open: 短款 ${r.shortCount} (${yuan(r.shortTotal)}), 长款 ${r.longCount} (${yuan(r.longTotal)}), net ${yuan(r.net)}.`,
      ` Bill ${r.bill.paymentCount} payments, ledger ${r.ledger.paymentCount}; ${r.runs} runs, last ${when(r.ranAt)}.`),
      r.warnings.length ? h("p", { class: "warning" }, `Warnings: ${r.warnings.join("; ")}`) : null,
      h("button", { type: "button", onclick: open, "aria-expanded": String(opened.has(key)) }, "Discrepancies"),
      details,
      opened.has(key) ? (open(), null) : null);
  }

  async function resolveDiscrepancy(r, d) {
    const outcome = select("outcome", [["BILL_CORRECT", "The bill is right; our books were put right"],
      ["LEDGER_CORRECT", "Our ledger is right; the provider was asked to correct"],
      ["WRITTEN_OFF", "Written off"], ["NO_ISSUE", "Not a real difference"]]);
    const note = h("textarea", { name: "note", required: true, rows: 3 });
    const values = await dialog({
      title: "Resolve a discrepancy",
      lines: [`${d.kind} on ${r.day} (${r.provider}): bill ${yuan(d.billAmount) || "—"}, ledger ${yuan(d.ledgerAmount) || "—"}.`, d.detail],
      fields: [field("Outcome", outcome), field("Note (required)", note)],
      confirm: "Record the resolution",
      check: (v) => (v.note.trim() ? null : "A note is required."),
    });
    if (!values) return;
    try {
      await gql(`mutation($p: ProviderName!, $m: String!, $d: String!, $id: String!, $o: ResolutionOutcomeKind!, $n: String!) {
        resolveDiscrepancy(provider: $p, merchant: $m, day: $d, id: $id, outcome: $o, note: $n) { open } }`,
      { p: r.provider.toUpperCase(), m: r.merchant, d: r.day, id: d.id, o: values.outcome, n: values.note });
      toast("Resolution recorded.", "ok");
      // The list again (the open counts moved); days that were open reopen.
      await load();
    } catch (error) {
      toast(`${error.code}: ${error.message}`, "error");
    }
  }
}

// ---- daily totals -------------------------------------------------------

export async function dailyScreen() {
  const form = h("form", { class: "filters" },
    field("Merchant", merchantInput()),
    field("From", h("input", { type: "date", name: "from", value: beijingDay(-13) })),
    field("To", h("input", { type: "date", name: "to", value: beijingDay(0) })),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Show")));
  const results = h("div");
  const load = async () => {
    const v = Object.fromEntries(new FormData(form).entries());
    const data = await gql(`query($m: String, $f: String, $t: String) { dailyTotals(merchant: $m, from: $f, to: $t) {
      merchant provider day paidCount paid refunded reversedCount reversed } }`,
    { m: v.merchant || null, f: v.from || null, t: v.to || null });
    const rows = data.dailyTotals;
    results.replaceChildren(chart(rows, v.from, v.to),
      table("Per day and wallet", ["Day", "Merchant", "Wallet", "Paid", "Amount", "Refunded", "Reversed", "Reversed amount"],
        rows.map((r) => [r.day, r.merchant, r.provider, r.paidCount, yuan(r.paid), yuan(r.refunded), r.reversedCount, yuan(r.reversed)])));
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  show(h("h1", {}, "Daily totals"), form, results);
  await load();
  return null;
}

/** Every day from `from` to `to` (`YYYY-MM-DD`, at most 92), or the rows' days without a range. */
function daysOf(rows, from, to) {
  if (!from || !to) return [...new Set(rows.map((r) => r.day))].sort();
  const days = [];
  for (let at = new Date(`${from}T00:00:00Z`); days.length < 92; at = new Date(at.getTime() + 86_400_000)) {
    const day = at.toISOString().slice(0, 10);
    if (day > to) break;
    days.push(day);
  }
  return days;
}

/** Paid amount per Beijing day, one bar per wallet, as SVG. */
function chart(rows, from, to) {
  const wallets = ["wechatpay", "alipay"];
  const days = daysOf(rows, from, to);
  const sums = new Map();
  for (const r of rows) {
    const key = `${r.day}/${r.provider}`;
    sums.set(key, (sums.get(key) ?? 0) + Number(r.paid));
  }
  const max = Math.max(1, ...sums.values());
  const width = Math.max(320, days.length * 48);
  const height = 180;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height + 30}`);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height + 30);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `Paid amount per day and wallet, highest ¥${max.toFixed(2)}`);
  svg.setAttribute("class", "chart");
  const el = (tag, attrs, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  days.forEach((day, i) => {
    wallets.forEach((wallet, j) => {
      const value = sums.get(`${day}/${wallet}`) ?? 0;
      const barHeight = (value / max) * height;
      const bar = el("rect", { x: i * 48 + 6 + j * 18, y: height - barHeight, width: 16, height: barHeight, class: wallet });
      const title = document.createElementNS(ns, "title");
      title.textContent = `${day} ${wallet}: ¥${value.toFixed(2)}`;
      bar.append(title);
    });
    el("text", { x: i * 48 + 4, y: height + 16, class: "day" }, day.slice(5));
  });
  return h("figure", {}, svg,
    h("figcaption", {}, h("span", { class: "key wechatpay" }, "WeChat Pay"), " ", h("span", { class: "key alipay" }, "Alipay"),
      ` — paid amount per Beijing day; the highest bar is ¥${max.toFixed(2)}.`));
}

// ---- projections --------------------------------------------------------

export async function projectionsScreen() {
  const body = h("div");
  let timer = null;
  const load = async () => {
    const data = await gql("{ projections { name generation checkpoint head lag rebuildingCheckpoint } }");
    const models = table("Read models", ["Projection", "Generation", "Checkpoint", "Log head", "Lag", "Rebuild", ""],
      data.projections.map((p) => [p.name, p.generation, p.checkpoint, p.head, p.lag,
        p.rebuildingCheckpoint === null ? "—" : progress(p),
        can("ADMIN") ? h("button", { type: "button", disabled: p.rebuildingCheckpoint !== null, onclick: () => rebuild(p) }, "Rebuild…") : ""]));
    body.replaceChildren(models, ...(can("ADMIN") ? [await nodes()] : []));
    const busy = data.projections.some((p) => p.rebuildingCheckpoint !== null);
    clearTimeout(timer);
    timer = setTimeout(load, busy ? 300 : 2000);
  };
  // The nodes sharing the store and the follow-up work each holds (admins).
  const nodes = async () => {
    const { cluster } = await gql(`{ cluster { shared thisNode freePartitions
      nodes { node partitions leaseExpiresAt workOrders oldestDueSeconds draining } } }`);
    const rows = cluster.nodes.map((n) => [
      n.node === cluster.thisNode ? `${n.node} (this node)` : n.node,
      `${n.partitions.length}: ${n.partitions.join(", ")}`,
      n.workOrders, `${n.oldestDueSeconds} s`,
      n.leaseExpiresAt && cluster.shared ? new Date(n.leaseExpiresAt).toLocaleTimeString() : "—",
      n.draining ? "draining" : "serving",
    ]);
    const free = cluster.freePartitions.length ? `Free partitions: ${cluster.freePartitions.join(", ")}.` : "Every partition is held.";
    return h("div", {}, table("Nodes and work partitions", ["Node", "Partitions", "Work orders", "Oldest due", "Lease until", "State"], rows),
      h("p", {}, cluster.shared ? free : "The embedded store has one node: it holds every partition."));
  };
  const progress = (p) => {
    const percent = p.head === 0 ? 100 : Math.min(100, Math.floor((p.rebuildingCheckpoint / p.head) * 100));
    return h("span", {}, h("progress", { max: 100, value: percent, "aria-label": `Rebuild of ${p.name}` }), ` ${percent}% (${p.rebuildingCheckpoint} of ${p.head})`);
  };
  const rebuild = async (p) => {
    const ok = await dialog({
      title: `Rebuild ${p.name}`,
      lines: [`The ${p.name} read model is built again from the ${p.head} events of the log, beside the copy that serves now; the new copy replaces it when it has caught up.`],
      confirm: "Rebuild",
    });
    if (!ok) return;
    try {
      await gql("mutation($n: String!) { rebuildProjection(name: $n) }", { n: p.name });
      toast(`Rebuilding ${p.name}…`, "ok");
      load();
    } catch (error) {
      toast(`${error.code}: ${error.message}`, "error");
    }
  };
  show(h("h1", {}, "Projections"), h("p", {}, "The read models the back office answers from, how far they trail the log, and (for admins) the nodes that share the follow-up work."), body);
  await load();
  return () => clearTimeout(timer);
}
