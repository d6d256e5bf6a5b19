//! Reconciliation end to end: a day of mixed traffic through paycode and the
//! simulator, the simulator's bills tampered on its side (a trade dropped, an
//! amount altered, a late success), the bills downloaded through the real
//! clients, and the recorded report finds exactly those; a rerun appends
//! nothing; a resolution is recorded once; a bad file records nothing.

mod support;

use std::sync::Arc;

use chrono::NaiveDate;
use paycode_app::reconciliation::{
    BillInput, DayReport, Reconciler, ReconciliationError, RunOutcome, RunRequest,
};
use paycode_app::{ManualClock, RandomIds};
use paycode_domain::{MerchantId, Provider, ResolutionOutcome, ResolutionRejected};
use paycode_sim::BillTamper;
use serde_json::{Value, json};
use support::{World, alipay_code, wechat_code};

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 20).expect("a day")
}

fn shop() -> MerchantId {
    MerchantId::parse("shop-a").expect("a merchant id")
}

fn state(body: &Value) -> &str {
    body["state"].as_str().unwrap_or("?")
}

async fn pay(world: &World, order: &str, code: &str, amount: &str, expected: &str) {
    let (status, body) = world.pay(order, code, amount).await;
    assert_eq!((status, state(&body)), (201, expected), "{order}: {body}");
}

fn tamper(world: &World, tamper: BillTamper) {
    world
        .sim
        .sim()
        .tamper_bill(tamper)
        .expect("the tamper is valid");
}

/// The day's WeChat traffic; returns nothing, tampers the bill as it goes.
async fn wechat_day(world: &World) {
    pay(world, "wx-ok", &wechat_code(0, 0, 1), "12.00", "SUCCESS").await;
    pay(world, "wx-ref", &wechat_code(0, 0, 2), "30.00", "SUCCESS").await;
    let refund = json!({ "out_refund_no": "wx-r1", "amount": "10.00" });
    let (status, body) = world.post("/v1/payments/wx-ref/refunds", refund).await;
    assert_eq!(status, 201, "{body}");
    pay(world, "wx-rev", &wechat_code(0, 0, 3), "19.90", "SUCCESS").await;
    pay(world, "wx-drop", &wechat_code(0, 0, 4), "5.00", "SUCCESS").await;
    pay(world, "wx-alter", &wechat_code(0, 0, 5), "7.00", "SUCCESS").await;
    // Never confirmed: reversed at the deadline, nothing charged (yet).
    pay(world, "wx-late", &wechat_code(2, 0, 6), "30.00", "PAYING").await;
    world.pass(32).await;
    let (status, body) = world.post("/v1/payments/wx-rev/reversal", json!({})).await;
    assert_eq!((status, state(&body)), (200, "REVOKED"), "{body}");
    let (_, body) = world.get("/v1/payments/wx-late").await;
    assert_eq!(state(&body), "REVOKED", "{body}");
    tamper(
        world,
        BillTamper::DropTrade {
            out_trade_no: world.provider_no("wx-drop").await,
        },
    );
    tamper(
        world,
        BillTamper::AlterAmount {
            out_trade_no: world.provider_no("wx-alter").await,
            amount: "7.70".into(),
        },
    );
    tamper(
        world,
        BillTamper::InjectSuccess {
            provider: paycode_sim::Provider::Wechat,
            merchant: "10000100".into(),
            out_trade_no: world.provider_no("wx-late").await,
            amount: "30.00".into(),
            at: None,
        },
    );
}

async fn alipay_day(world: &World) {
    pay(world, "ali-ok", &alipay_code(0, 0, 11), "15.00", "SUCCESS").await;
    pay(
        world,
        "ali-ref",
        &alipay_code(0, 0, 12),
        "100.00",
        "SUCCESS",
    )
    .await;
    let refund = json!({ "out_refund_no": "ali-r1", "amount": "60.00" });
    let (status, body) = world.post("/v1/payments/ali-ref/refunds", refund).await;
    assert_eq!((status, state(&body)), (201, "SUCCEEDED"), "{body}");
    pay(world, "ali-rev", &alipay_code(0, 0, 13), "8.80", "SUCCESS").await;
    let (status, body) = world.post("/v1/payments/ali-rev/reversal", json!({})).await;
    assert_eq!((status, state(&body)), (200, "TRADE_CLOSED"), "{body}");
    pay(
        world,
        "ali-alter",
        &alipay_code(0, 0, 14),
        "20.00",
        "SUCCESS",
    )
    .await;
    tamper(
        world,
        BillTamper::AlterAmount {
            out_trade_no: world.provider_no("ali-alter").await,
            amount: "2.00".into(),
        },
    );
    world.pass(2).await;
}

/// The reconciler on the world's clock as it is now.
fn reconciler(world: &World) -> Reconciler {
    Reconciler::new(
        world.store.clone(),
        Arc::new(ManualClock::new(world.now())),
        Arc::new(RandomIds),
    )
}

/// Moves the world to the morning after `day` (Beijing) unless it is there
/// already: a day's bill exists from the next day.
async fn after(world: &World, day: NaiveDate) {
    while paycode_domain::beijing::day(world.now()) <= day {
        world.next_day().await;
    }
}

async fn run(world: &World, provider: Provider, day: NaiveDate) -> RunOutcome {
    after(world, day).await;
    let config = support::config(&world.sim.base_url());
    let providers = paycode_server::wiring::provider_directory(&config).unwrap();
    let account = Reconciler::bill_account(&providers, &shop(), provider).unwrap();
    let bill = Reconciler::download(&providers, &shop(), provider, day)
        .await
        .expect("the bill downloads");
    reconciler(world)
        .run_day(RunRequest {
            provider,
            merchant: shop(),
            account,
            day,
            bill,
            by: Some("ops".into()),
        })
        .await
        .expect("the run completes")
}

/// `KIND subject order` per open discrepancy, sorted.
fn found(report: &DayReport) -> Vec<String> {
    let mut found: Vec<String> = report
        .open_discrepancies()
        .map(|d| {
            let order = d
                .found
                .order
                .as_ref()
                .map_or("-".into(), ToString::to_string);
            format!("{} {} {order}", d.found.kind, d.found.subject)
        })
        .collect();
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wechat_report_finds_exactly_the_tampered_trades_and_a_rerun_appends_nothing() {
    let world = World::start().await;
    wechat_day(&world).await;
    let first = run(&world, Provider::Wechatpay, day()).await;
    assert_eq!(
        found(&first.report),
        [
            "AMOUNT_MISMATCH payment wx-alter",
            "MISSING_IN_BILL payment wx-drop",
            "PAID_AFTER_REVERSAL payment wx-late",
        ],
        "{}",
        first.matched.render()
    );
    let r = &first.report;
    assert_eq!(
        (r.matched_payments, r.matched_refunds, r.matched_reversals),
        (2, 1, 1),
        "wx-ok and wx-ref paid, wx-ref refunded, wx-rev paid and reversed"
    );
    assert!(first.appended);
    assert_eq!(first.new_discrepancies, 3);
    assert!(r.bill_sha256.as_ref().is_some_and(|h| h.len() == 64));

    let head = world.head().await;
    let again = run(&world, Provider::Wechatpay, day()).await;
    assert!(!again.appended, "the same bill and ledger: nothing new");
    assert_eq!(again.report, first.report);
    assert_eq!(world.head().await, head);

    let reader = reconciler(&world);
    let stored = reader
        .report(Provider::Wechatpay, &shop(), day())
        .await
        .unwrap();
    assert_eq!(
        stored.as_ref(),
        Some(&first.report),
        "read back from the run stream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alipay_report_matches_refunds_and_a_cancel_and_finds_the_altered_amount() {
    let world = World::start().await;
    alipay_day(&world).await;
    let outcome = run(&world, Provider::Alipay, day()).await;
    assert_eq!(
        found(&outcome.report),
        ["AMOUNT_MISMATCH payment ali-alter"],
        "{}",
        outcome.matched.render()
    );
    let r = &outcome.report;
    assert_eq!(
        (r.matched_payments, r.matched_refunds, r.matched_reversals),
        (2, 1, 1),
        "{}",
        outcome.matched.render()
    );
    let listed = reconciler(&world).list_reports().await.unwrap();
    assert_eq!(listed, [outcome.report]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_just_before_midnight_missing_from_its_bill_is_carried_and_reported_the_next_day()
{
    let world = World::start().await;
    // From 10:00 to 23:58 Beijing time; nothing is open, so no work is due.
    let wait = 13 * 3_600 + 58 * 60;
    world.clock.advance(chrono::Duration::seconds(wait));
    world.sim.sim().advance_clock(u64::try_from(wait).unwrap());
    pay(
        &world,
        "wx-late-night",
        &wechat_code(0, 0, 21),
        "9.00",
        "SUCCESS",
    )
    .await;
    pay(&world, "wx-kept", &wechat_code(0, 0, 22), "1.00", "SUCCESS").await;
    tamper(
        &world,
        BillTamper::DropTrade {
            out_trade_no: world.provider_no("wx-late-night").await,
        },
    );
    world.pass(180).await;
    let first = run(&world, Provider::Wechatpay, day()).await;
    assert!(
        first.report.discrepancies.is_empty(),
        "{}",
        first.matched.render()
    );
    assert_eq!(first.report.carried_over.len(), 1);
    assert_eq!(first.report.carried_over[0].order.as_str(), "wx-late-night");

    let next = day().succ_opt().unwrap();
    let second = run(&world, Provider::Wechatpay, next).await;
    assert_eq!(
        found(&second.report),
        ["MISSING_IN_BILL payment wx-late-night"],
        "{}",
        second.matched.render()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discrepancy_is_resolved_once_and_a_changed_rerun_records_only_new_ones() {
    let world = World::start().await;
    wechat_day(&world).await;
    let first = run(&world, Provider::Wechatpay, day()).await;
    let id = first
        .report
        .discrepancies
        .iter()
        .find(|d| d.found.kind == "MISSING_IN_BILL")
        .map(|d| d.found.id.clone())
        .unwrap();
    let reconciler = reconciler(&world);
    let resolve = |note: &'static str| {
        let id = id.clone();
        let reconciler = reconciler.clone();
        async move {
            reconciler
                .resolve_discrepancy(
                    Provider::Wechatpay,
                    &shop(),
                    day(),
                    &id,
                    ResolutionOutcome::LedgerCorrect,
                    "ops",
                    note,
                )
                .await
        }
    };
    resolve("asked WeChat support").await.unwrap();
    let twice = resolve("again").await.unwrap_err();
    assert!(
        matches!(
            twice,
            ReconciliationError::Rejected(ResolutionRejected::AlreadyResolved { .. })
        ),
        "{twice}"
    );

    // The provider fixes the dropped trade; a new unknown trade appears.
    let cleared = world
        .http
        .delete(format!("{}/_sim/bill/tampers", world.sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 204);
    tamper(
        &world,
        BillTamper::InjectSuccess {
            provider: paycode_sim::Provider::Wechat,
            merchant: "10000100".into(),
            out_trade_no: "unknown-trade-1".into(),
            amount: "1.00".into(),
            // On the day being reconciled (the world is at the next morning).
            at: Some(support::start_instant() + chrono::Duration::hours(3)),
        },
    );
    let second = run(&world, Provider::Wechatpay, day()).await;
    assert!(second.appended);
    assert_eq!(found(&second.report), ["MISSING_IN_LEDGER payment -"]);
    assert_eq!(second.new_discrepancies, 1, "only the new one is recorded");
    assert_eq!(second.report.runs, 2);
    // The altered amount and the late success are no longer on the bill:
    // superseded by run 2; the dropped trade stays resolved.
    let statuses: Vec<(&str, &str)> = second
        .report
        .discrepancies
        .iter()
        .map(|d| (d.found.kind.as_str(), d.status.as_str()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("MISSING_IN_LEDGER", "open"),
            ("MISSING_IN_BILL", "resolved"),
            ("AMOUNT_MISMATCH", "superseded"),
            ("PAID_AFTER_REVERSAL", "superseded"),
        ]
    );
    let csv = second.report.to_csv();
    assert_eq!(csv.lines().count(), 5, "a header and four rows:\n{csv}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_without_a_bill_is_an_empty_report_and_a_bad_file_records_nothing() {
    let world = World::start().await;
    let before = NaiveDate::from_ymd_opt(2026, 11, 19).unwrap();
    let empty = run(&world, Provider::Wechatpay, before).await;
    assert!(empty.report.discrepancies.is_empty());
    assert_eq!(empty.report.bill_sha256, None, "WeChat said No Bill Exist");
    let empty = run(&world, Provider::Alipay, before).await;
    assert!(empty.report.discrepancies.is_empty());
    assert_eq!(empty.report.bill.payment_count, 0);

    let config = support::config(&world.sim.base_url());
    let providers = paycode_server::wiring::provider_directory(&config).unwrap();
    let head = world.head().await;
    for (provider, bytes) in [
        (Provider::Wechatpay, b"\xff\xfe not a bill".to_vec()),
        (
            Provider::Wechatpay,
            "交易时间,商户号\n`2026-11-20 10:00:00".as_bytes().to_vec(),
        ),
        (Provider::Alipay, b"PK but not a zip".to_vec()),
    ] {
        let error = reconciler(&world)
            .run_day(RunRequest {
                provider,
                merchant: shop(),
                account: Reconciler::bill_account(&providers, &shop(), provider).unwrap(),
                day: before,
                bill: BillInput::File {
                    name: "bad.csv".into(),
                    bytes,
                },
                by: None,
            })
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                ReconciliationError::WechatBill(_) | ReconciliationError::AlipayBill(_)
            ),
            "{error}"
        );
    }
    assert_eq!(world.head().await, head, "a bad file appends nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_files_are_named_by_provider_merchant_and_day() {
    let world = World::start().await;
    wechat_day(&world).await;
    let outcome = run(&world, Provider::Wechatpay, day()).await;
    let dir = tempfile::tempdir().unwrap();
    let written = paycode_server::cli::reconcile::write_files(&outcome.report, dir.path()).unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "reconciliation-wechatpay-shop-a-20261120.json",
            "reconciliation-wechatpay-shop-a-20261120.csv"
        ]
    );
    let json: Value = serde_json::from_slice(&std::fs::read(&written[0]).unwrap()).unwrap();
    assert_eq!(json["discrepancies"].as_array().map(Vec::len), Some(3));
}

/// The operator's commands as a scheduler runs them, through the `paycode`
/// binary: a run with an open discrepancy exits 3 and names the merchant's
/// order; the same bill under another day exits 1 and records nothing;
/// `show` and `open` read what is recorded; `resolve` closes it (a note is
/// required) and `open` then exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_runs_shows_lists_and_resolves_with_exit_codes_a_scheduler_can_read() {
    let world = World::start().await;
    pay(&world, "wx-ok", &wechat_code(0, 0, 31), "12.00", "SUCCESS").await;
    pay(&world, "wx-drop", &wechat_code(0, 0, 32), "5.00", "SUCCESS").await;
    tamper(
        &world,
        BillTamper::DropTrade {
            out_trade_no: world.provider_no("wx-drop").await,
        },
    );
    after(&world, day()).await;
    let providers =
        paycode_server::wiring::provider_directory(&support::config(&world.sim.base_url()))
            .unwrap();
    let BillInput::Downloaded(paycode_provider::BillAnswer::File(file)) =
        Reconciler::download(&providers, &shop(), Provider::Wechatpay, day())
            .await
            .unwrap()
    else {
        panic!("the simulator has a bill for the day");
    };
    let dir = tempfile::tempdir().unwrap();
    let bill = dir.path().join("bill.csv");
    std::fs::write(&bill, &file.bytes).unwrap();
    let config = dir.path().join("paycode.toml");
    std::fs::write(&config, support::config_text(&world.sim.base_url())).unwrap();
    let store = format!("sqlite:{}", world.db_path().display());
    let paycode = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_paycode"))
            .arg("reconcile")
            .args(args)
            .args(["--config", config.to_str().unwrap(), "--store", &store])
            .env("USER", "ops")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };
    let out_dir = dir.path().to_str().unwrap();
    let run = [
        "--provider",
        "wechat",
        "--merchant",
        "shop-a",
        "--file",
        bill.to_str().unwrap(),
        "--out",
        out_dir,
    ];
    let (code, text) = paycode(&[&run[..], &["--date", "2026-11-20"]].concat());
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains("MISSING_IN_BILL") && text.contains("wx-drop"),
        "{text}"
    );
    assert!(
        text.contains("短款 (ledger only) 1 totalling 5.00"),
        "{text}"
    );

    let head = world.head().await;
    let (code, text) = paycode(&[&run[..], &["--date", "2026-11-19"]].concat());
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("is not the bill of 2026-11-19"), "{text}");
    assert_eq!(world.head().await, head, "a refused bill records nothing");

    let (code, text) = paycode(&["show", "--date", "2026-11-20"]);
    assert_eq!(code, Some(3), "{text}");
    let id = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("id "))
        .expect("show prints the ids")
        .to_owned();
    assert!(
        id.starts_with("wechatpay/shop-a/2026-11-20/MISSING_IN_BILL/"),
        "{id}"
    );
    let (code, text) = paycode(&["open"]);
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains(&id) && text.contains("1 open discrepancies"),
        "{text}"
    );

    let (code, text) = paycode(&["resolve", &id, "--outcome", "ledger-correct"]);
    assert_eq!(code, Some(2), "a note is required: {text}");
    let (code, text) = paycode(&[
        "resolve",
        &id,
        "--outcome",
        "ledger-correct",
        "--note",
        "asked WeChat support",
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("by ops"), "{text}");
    let (code, text) = paycode(&["open"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("0 open discrepancies"), "{text}");
    let (code, text) = paycode(&["show", "--date", "2026-11-19"]);
    assert_eq!(code, Some(1), "{text}");
}
