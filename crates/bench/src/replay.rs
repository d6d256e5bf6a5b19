//! The `replay` section: how fast the whole log folds back into order states
//! (target: 1,000,000 events in at most 5 s on the 2-core machine).
//!
//! The log is written through the domain: each order is driven by `decide`
//! and `evolve` in memory with a hand-moved clock along one of six paths a
//! real day holds (paid at once then refunded, password with polls, no
//! balance then a new code, never confirmed then reversed at the deadline,
//! a refund that processes, an unknown answer settled by a query), then its
//! events are encoded and appended to a fresh SQLite store, many orders side
//! by side. None of that is timed.
//!
//! Timed: `paycode_app::replay::project_orders` (read_all + decode + evolve),
//! and, to show where the time goes, `read_all` alone, decode alone and
//! decode + evolve from memory (the same fold as `project_orders`, and the
//! same fold with the map updated in place).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, ensure};
use chrono::{DateTime, Duration, TimeZone, Utc};
use paycode_app::replay::{decode, project_orders};
use paycode_domain::{
    AuthCode, Context, MerchantId, Money, NewIds, Order, OrderCommand, OrderEvent, OutRefundNo,
    OutTradeNo, PayOutcome, Policy, ProviderReply, RefundOutcome, RequestPayment, ReversalOutcome,
    ReverseAction, decide, evolve, order_stream,
};
use paycode_store::{EventStore, ExpectedVersion, NewEvent, RecordedEvent, StreamName};
use paycode_store_sqlite::SqliteStore;
use uuid::Uuid;

use crate::report::{Measurement, table, thousands};

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Events in the generated log (whole orders are written until the log
    /// holds at least this many).
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Orders appended side by side while filling the store (group commit).
    #[arg(long, default_value_t = 128)]
    writers: usize,
}

/// Events per `read_all` page in the read-only run: the page
/// `project_orders` uses.
const READ_PAGE: usize = 4_096;

/// The replay target, in milliseconds for 1,000,000 events.
const TARGET_MILLIS_PER_MILLION: u128 = 5_000;

pub async fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let generated = generate(args.events)?;
    let events: u64 = generated.iter().map(|(_, e)| e.len() as u64).sum();
    let orders = generated.len() as u64;
    let dir = tempfile::tempdir()?;
    let store = Arc::new(SqliteStore::open(dir.path().join("replay.db"))?);
    let fill_started = Instant::now();
    fill(&store, generated, args.writers).await?;
    let fill_elapsed = fill_started.elapsed();
    ensure!(
        store.head().await? == events,
        "the store does not hold the log"
    );

    let started = Instant::now();
    let projected = project_orders(store.as_ref()).await?;
    let full = measured(
        "`project_orders`: read_all + decode + evolve",
        events,
        started,
    );
    ensure!(
        projected.len() as u64 == orders,
        "projected {} orders of {orders}",
        projected.len()
    );

    let (read, log) = read_everything(store.as_ref(), events).await?;
    let (decode_only, decoded) = time_decode(&log)?;
    let mut rows = vec![full.clone(), read.clone(), decode_only.clone()];
    let mut evolve_only = None;
    for (fold, with_decode) in [
        (Fold::LikeProjectOrders, true),
        (Fold::LikeProjectOrders, false),
        (Fold::InPlace, false),
    ] {
        let source = if with_decode {
            None
        } else {
            Some(decoded.as_slice())
        };
        let (measured, states) = time_fold(&log, source, fold)?;
        ensure!(
            states == projected,
            "{} disagrees with `project_orders`",
            measured.what
        );
        if !with_decode {
            evolve_only.get_or_insert(measured.clone());
        }
        rows.push(measured);
    }
    let in_place = rows.last().cloned().context("the in-place run")?;
    let evolve_only = evolve_only.context("the evolve run")?;

    print_section(orders, &full, fill_elapsed, &projected);
    print!("{}", table(&rows));
    print_notes(&full, &read, &decode_only, &evolve_only, &in_place);
    Ok(())
}

fn measured(what: &str, events: u64, started: Instant) -> Measurement {
    Measurement {
        what: what.to_owned(),
        events,
        elapsed: started.elapsed(),
    }
}

/// The six paths, in the share a day might hold them (out of ten orders).
#[derive(Debug, Clone, Copy)]
enum Path {
    PaidThenRefunded,
    Password,
    RetriedAfterNoBalance,
    NeverConfirmed,
    RefundProcessing,
    UnknownThenPaid,
}

impl Path {
    fn of(order: u64) -> Path {
        match order % 10 {
            0..=3 => Path::PaidThenRefunded,
            4 | 5 => Path::Password,
            6 => Path::RetriedAfterNoBalance,
            7 => Path::NeverConfirmed,
            8 => Path::RefundProcessing,
            _ => Path::UnknownThenPaid,
        }
    }
}

/// One order driven through `decide` and `evolve` in memory.
struct Driver<'a> {
    policy: &'a Policy,
    now: DateTime<Utc>,
    order: Option<Order>,
    events: Vec<OrderEvent>,
    next_id: &'a mut u64,
}

impl Driver<'_> {
    fn fresh_uuid(&mut self) -> Uuid {
        *self.next_id += 1;
        Uuid::from_u64_pair(0x5eed, *self.next_id)
    }

    fn wait(&mut self, secs: i64) -> &mut Self {
        self.now += Duration::seconds(secs);
        self
    }

    fn run(&mut self, command: OrderCommand) -> anyhow::Result<&mut Self> {
        let ids = NewIds::from_uuids(self.fresh_uuid(), self.fresh_uuid());
        let ctx = Context {
            now: self.now,
            policy: self.policy,
            ids,
        };
        let produced = decide(self.order.as_ref(), &command, &ctx)
            .map_err(|rejection| anyhow::anyhow!("{}: {rejection:?}", command.name()))?;
        for event in produced {
            self.order = evolve(self.order.take(), &event);
            self.events.push(event);
        }
        Ok(self)
    }
}

fn start() -> DateTime<Utc> {
    // 10:00 in Beijing, so every reversal window of the day is open.
    Utc.with_ymd_and_hms(2026, 11, 20, 2, 0, 0)
        .single()
        .expect("a valid instant")
}

fn reply(code: &str) -> ProviderReply {
    ProviderReply::new(code, "bench")
}

fn paid(now: DateTime<Utc>, n: u64) -> PayOutcome {
    PayOutcome::Paid {
        provider_trade_no: format!("42000000012026112{n:011}"),
        paid_at: now,
    }
}

fn pay_answer(outcome: PayOutcome, code: &str) -> OrderCommand {
    OrderCommand::RecordPayAnswer {
        attempt: 1,
        outcome,
        reply: reply(code),
    }
}

fn poll(attempt: u32, outcome: PayOutcome, code: &str) -> OrderCommand {
    OrderCommand::RecordPollResult {
        attempt,
        outcome,
        reply: reply(code),
    }
}

fn refund(n: u64, amount: Money) -> anyhow::Result<(OutRefundNo, OrderCommand)> {
    let out_refund_no = OutRefundNo::parse(&format!("R{n}"))?;
    let command = OrderCommand::RequestRefund(paycode_domain::RequestRefund {
        out_refund_no: out_refund_no.clone(),
        amount,
        reason: Some("returned".into()),
        by: Some("pos".into()),
    });
    Ok((out_refund_no, command))
}

fn refund_result(out_refund_no: &OutRefundNo, outcome: RefundOutcome) -> OrderCommand {
    OrderCommand::RecordRefundResult {
        out_refund_no: out_refund_no.clone(),
        outcome,
        reply: reply("SUCCESS"),
    }
}

/// The events of order `n`, driven along its path.
fn drive(
    n: u64,
    policy: &Policy,
    next_id: &mut u64,
) -> anyhow::Result<(StreamName, Vec<OrderEvent>)> {
    let merchant = MerchantId::parse(&format!("m{:03}", n % 50))?;
    let out_trade_no = OutTradeNo::parse(&format!("T{n:010}"))?;
    let amount = Money::parse(&format!("{}.{:02}", 1 + n % 500, n % 100))?;
    let code = if n.is_multiple_of(3) {
        "281234567890123456"
    } else {
        "134567890123456789"
    };
    let request = RequestPayment {
        merchant: merchant.clone(),
        out_trade_no: out_trade_no.clone(),
        amount,
        subject: format!("order {n}"),
        store_id: Some("store-1".into()),
        terminal_id: Some(format!("till-{}", n % 8)),
        auth_code: AuthCode::parse(code)?,
    };
    let mut d = Driver {
        policy,
        now: start() + Duration::milliseconds(i64::try_from(n)?),
        order: None,
        events: Vec::with_capacity(12),
        next_id,
    };
    d.run(OrderCommand::RequestPayment(request))?;
    let now = d.now;
    match Path::of(n) {
        Path::PaidThenRefunded => {
            let (no, ask) = refund(n, amount)?;
            d.run(pay_answer(paid(now, n), "SUCCESS"))?
                .wait(600)
                .run(ask)?;
            let done = RefundOutcome::Succeeded {
                provider_refund_id: Some(format!("5000{n:025}")),
            };
            d.wait(1).run(refund_result(&no, done))?;
        }
        Path::Password => {
            d.run(pay_answer(PayOutcome::Pending, "USERPAYING"))?;
            d.wait(5).run(poll(1, PayOutcome::Pending, "USERPAYING"))?;
            d.wait(5).run(poll(1, paid(now, n), "SUCCESS"))?;
        }
        Path::RetriedAfterNoBalance => {
            d.run(pay_answer(PayOutcome::Failed, "NOTENOUGH"))?.wait(20);
            d.run(OrderCommand::RetryPayment {
                auth_code: AuthCode::parse("101234567890123456")?,
            })?;
            d.run(OrderCommand::RecordPayAnswer {
                attempt: 2,
                outcome: paid(now, n),
                reply: reply("SUCCESS"),
            })?;
        }
        Path::NeverConfirmed => {
            d.run(pay_answer(PayOutcome::Pending, "USERPAYING"))?;
            for _ in 0..3 {
                d.wait(5).run(poll(1, PayOutcome::Pending, "USERPAYING"))?;
            }
            d.wait(16).run(OrderCommand::Tick)?;
            let done = ReversalOutcome::Done {
                action: Some(ReverseAction::Closed),
            };
            d.run(OrderCommand::RecordReversalResult {
                outcome: done,
                reply: reply("SUCCESS"),
            })?;
        }
        Path::RefundProcessing => {
            let (no, ask) = refund(n, amount)?;
            d.run(pay_answer(paid(now, n), "SUCCESS"))?
                .wait(60)
                .run(ask)?;
            let id = Some(format!("5000{n:025}"));
            let processing = RefundOutcome::Processing {
                provider_refund_id: id.clone(),
            };
            d.run(refund_result(&no, processing))?.wait(30);
            d.run(OrderCommand::RecordRefundPoll {
                out_refund_no: no,
                outcome: RefundOutcome::Succeeded {
                    provider_refund_id: id,
                },
                reply: reply("SUCCESS"),
            })?;
        }
        Path::UnknownThenPaid => {
            d.run(pay_answer(PayOutcome::Unknown, "SYSTEMERROR"))?;
            d.wait(5).run(poll(1, paid(now, n), "SUCCESS"))?;
        }
    }
    let stream = StreamName::parse(&order_stream(&merchant, &out_trade_no))?;
    Ok((stream, std::mem::take(&mut d.events)))
}

/// Whole orders until the log holds at least `events` events, encoded.
pub(crate) fn generate(events: u64) -> anyhow::Result<Vec<(StreamName, Vec<NewEvent>)>> {
    let policy = Policy::default();
    let mut next_id = 0;
    let mut total = 0;
    let mut orders = Vec::new();
    let mut n = 0;
    while total < events {
        let (stream, produced) =
            drive(n, &policy, &mut next_id).with_context(|| format!("order {n}"))?;
        total += produced.len() as u64;
        let encoded = produced
            .iter()
            .map(|event| {
                let (event_type, type_version, data) = event.encode();
                next_id += 1;
                NewEvent {
                    id: Uuid::from_u64_pair(0xe7e7, next_id),
                    event_type: event_type.to_owned(),
                    type_version,
                    data,
                    metadata: br#"{"command":"bench"}"#.to_vec(),
                }
            })
            .collect();
        orders.push((stream, encoded));
        n += 1;
    }
    Ok(orders)
}

/// Appends every order, `writers` orders in flight at a time.
pub(crate) async fn fill(
    store: &Arc<SqliteStore>,
    orders: Vec<(StreamName, Vec<NewEvent>)>,
    writers: usize,
) -> anyhow::Result<()> {
    let writers = writers.max(1);
    let mut shares: Vec<Vec<(StreamName, Vec<NewEvent>)>> =
        (0..writers).map(|_| Vec::new()).collect();
    for (i, order) in orders.into_iter().enumerate() {
        shares[i % writers].push(order);
    }
    let tasks: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let store = store.clone();
            tokio::spawn(async move {
                for (stream, events) in share {
                    store
                        .append(&stream, ExpectedVersion::NoStream, events)
                        .await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// `read_all` alone, keeping what it read for the in-memory runs.
async fn read_everything(
    store: &dyn EventStore,
    events: u64,
) -> anyhow::Result<(Measurement, Vec<RecordedEvent>)> {
    let mut log = Vec::with_capacity(usize::try_from(events)?);
    let started = Instant::now();
    let mut after = 0;
    loop {
        let page = store.read_all(after, READ_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.position;
        log.extend(page);
    }
    let what = format!("read_all alone, pages of {}", thousands(READ_PAGE as u64));
    Ok((measured(&what, log.len() as u64, started), log))
}

/// Decodes every event; the decoded events are kept for the evolve-only runs
/// (cloning them out of the list is part of those runs' time, as small as
/// it is next to decoding).
fn time_decode(log: &[RecordedEvent]) -> anyhow::Result<(Measurement, Vec<OrderEvent>)> {
    let mut decoded = Vec::with_capacity(log.len());
    let started = Instant::now();
    for recorded in log {
        decoded.push(decode(recorded)?);
    }
    let elapsed = started.elapsed();
    ensure!(
        decoded
            .iter()
            .any(|e| matches!(e, OrderEvent::PaymentRequested(_))),
        "no PaymentRequested decoded"
    );
    Ok((
        Measurement {
            what: "decode alone (JSON to `OrderEvent`), from memory".into(),
            events: log.len() as u64,
            elapsed,
        },
        decoded,
    ))
}

/// How the in-memory fold keeps its states.
#[derive(Debug, Clone, Copy)]
enum Fold {
    /// As `project_orders` does: a `BTreeMap` by stream name, each state
    /// removed and inserted again under a fresh `String` key per event.
    LikeProjectOrders,
    /// The same map updated in place: one key per order, borrowed from
    /// the log, and `evolve` on the taken value.
    InPlace,
}

impl Fold {
    fn what(self, decoding: bool) -> &'static str {
        match (self, decoding) {
            (Fold::LikeProjectOrders, true) => {
                "decode + evolve from memory, as `project_orders` folds"
            }
            (Fold::LikeProjectOrders, false) => "evolve alone, as `project_orders` folds",
            (Fold::InPlace, true) => "decode + evolve from memory, states updated in place",
            (Fold::InPlace, false) => "evolve alone, states updated in place",
        }
    }
}

/// Folds `events` (stream, event) into states; the time covers the fold
/// only, not turning the result into the returned map.
fn fold_events<'a>(
    events: impl Iterator<Item = anyhow::Result<(&'a str, OrderEvent)>>,
    fold: Fold,
) -> anyhow::Result<(std::time::Duration, BTreeMap<String, Order>)> {
    let started = Instant::now();
    match fold {
        Fold::LikeProjectOrders => {
            let mut orders: BTreeMap<String, Order> = BTreeMap::new();
            for item in events {
                let (stream, event) = item?;
                let state = orders.remove(stream);
                if let Some(order) = evolve(state, &event) {
                    orders.insert(stream.to_owned(), order);
                }
            }
            Ok((started.elapsed(), orders))
        }
        Fold::InPlace => {
            let mut orders: BTreeMap<&str, Option<Order>> = BTreeMap::new();
            for item in events {
                let (stream, event) = item?;
                let slot = orders.entry(stream).or_default();
                *slot = evolve(slot.take(), &event);
            }
            let elapsed = started.elapsed();
            let states = orders
                .into_iter()
                .filter_map(|(k, v)| v.map(|o| (k.to_owned(), o)))
                .collect();
            Ok((elapsed, states))
        }
    }
}

/// Decode + evolve from memory when `decoded` is `None`; evolve alone over
/// already decoded events otherwise.
fn time_fold(
    log: &[RecordedEvent],
    decoded: Option<&[OrderEvent]>,
    fold: Fold,
) -> anyhow::Result<(Measurement, BTreeMap<String, Order>)> {
    let (elapsed, states) = match decoded {
        None => fold_events(
            log.iter().map(|r| Ok((r.stream.as_str(), decode(r)?))),
            fold,
        )?,
        Some(events) => fold_events(
            log.iter()
                .zip(events)
                .map(|(r, e)| Ok((r.stream.as_str(), e.clone()))),
            fold,
        )?,
    };
    Ok((
        Measurement {
            what: fold.what(decoded.is_none()).into(),
            events: log.len() as u64,
            elapsed,
        },
        states,
    ))
}

fn print_section(
    orders: u64,
    full: &Measurement,
    fill: std::time::Duration,
    projected: &BTreeMap<String, Order>,
) {
    let mut by_status: BTreeMap<&str, u64> = BTreeMap::new();
    for order in projected.values() {
        *by_status.entry(order.status.as_str()).or_default() += 1;
    }
    let statuses: Vec<String> = by_status
        .iter()
        .map(|(status, n)| format!("{status} {}", thousands(*n)))
        .collect();
    println!("## Replay\n");
    println!(
        "`cargo run --release -p paycode-bench -- replay`: a log of {} events for {} orders written through the domain",
        thousands(full.events),
        thousands(orders)
    );
    println!(
        "(paid then refunded 40%, password with polls 20%, no balance then a new code 10%, never confirmed then reversed 10%, refund processing then done 10%, unknown then paid by query 10%),"
    );
    println!(
        "appended to a fresh SQLite store in {} s (not timed), then folded back.",
        fill.as_secs()
    );
    println!("Projected states: {}.\n", statuses.join(", "));
}

fn print_notes(
    full: &Measurement,
    read: &Measurement,
    decode: &Measurement,
    evolve: &Measurement,
    in_place: &Measurement,
) {
    let target = u128::from(full.events.max(1)) * TARGET_MILLIS_PER_MILLION / 1_000_000;
    let met = full.elapsed.as_millis() <= target;
    println!(
        "\nTarget: 1,000,000 events replayed in <= 5 s: {} ({} ms for {} events, {} events/s).",
        if met { "met" } else { "NOT met" },
        thousands(u64::try_from(full.elapsed.as_millis()).unwrap_or(u64::MAX)),
        thousands(full.events),
        thousands(full.rate())
    );
    let ms = |m: &Measurement| thousands(u64::try_from(m.elapsed.as_millis()).unwrap_or(u64::MAX));
    println!(
        "Each part timed on its own: reading {} ms, decoding the JSON payloads {} ms, evolving with the map `project_orders` keeps {} ms (the whole replay: {} ms).",
        ms(read),
        ms(decode),
        ms(evolve),
        ms(full)
    );
    println!(
        "Evolving with each state updated in place (no remove and re-insert, no new `String` key per event) takes {} ms instead of {} ms.",
        thousands(u64::try_from(in_place.elapsed.as_millis()).unwrap_or(u64::MAX)),
        thousands(u64::try_from(evolve.elapsed.as_millis()).unwrap_or(u64::MAX))
    );
}
