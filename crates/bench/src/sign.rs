//! The `sign` section: how many signatures per second one core makes and
//! checks, for the requests and responses paycode actually sends and reads.
//!
//! WeChat Pay: MD5 and HMAC-SHA256 over a micropay request of 13 fields, and
//! the full read of a paid micropay response (XML parse + signature check).
//! Alipay: RSA2 (2048-bit, `ring`) signing of an `alipay.trade.pay` request
//! and verification of a paid `*_response` node, with the checked-in test keys.

use std::hint::black_box;
use std::time::Instant;

use anyhow::Context;
use paycode_alipay::{AlipayPublicKey, AppPrivateKey};
use paycode_wechatpay::response::read_envelope;
use paycode_wechatpay::sign::{SignType, sign};
use paycode_wechatpay::xml::{self, Fields};

use crate::report::{Measurement, table, thousands};

#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// Operations per hash-based measurement (MD5, HMAC-SHA256, XML read).
    #[arg(long, default_value_t = 200_000)]
    hash_ops: u64,
    /// Operations per RSA measurement (signing is about 100x slower than hashing).
    #[arg(long, default_value_t = 5_000)]
    rsa_ops: u64,
}

const WECHAT_KEY: &str = "paycodesimulatorwechatapikey0001";

const APP_PRIVATE: &str = include_str!("../../../tests/keys/alipay-app-private.pem");
const APP_PUBLIC: &str = include_str!("../../../tests/keys/alipay-app-public.pem");

/// An `alipay.trade.pay` request's signed content, as the client builds it.
const ALIPAY_CONTENT: &str = r#"app_id=2014072300007148&biz_content={"out_trade_no":"T20261127001","scene":"bar_code","auth_code":"281234567890123456","subject":"咖啡","total_amount":"88.80","terminal_id":"POS-1"}&charset=utf-8&format=JSON&method=alipay.trade.pay&sign_type=RSA2&timestamp=2026-11-27 11:00:00&version=1.0"#;

fn micropay_request() -> Fields {
    [
        ("appid", "wx2421b1c4370ec43b"),
        ("mch_id", "10000100"),
        ("nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"),
        ("sign_type", "MD5"),
        ("body", "咖啡"),
        ("out_trade_no", "T20261127001"),
        ("total_fee", "8880"),
        ("spbill_create_ip", "127.0.0.1"),
        ("auth_code", "134567890123456789"),
        ("device_info", "POS-1"),
        ("attach", ""),
        ("goods_tag", ""),
        ("fee_type", "CNY"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn paid_response() -> String {
    let mut fields: Fields = [
        ("return_code", "SUCCESS"),
        ("appid", "wx2421b1c4370ec43b"),
        ("mch_id", "10000100"),
        ("nonce_str", "IITRi8Iabbblz1Jc"),
        ("result_code", "SUCCESS"),
        ("openid", "oUpF8uN95-Ptaags6E_roPHg7AG0"),
        ("trade_type", "MICROPAY"),
        ("bank_type", "CCB_DEBIT"),
        ("total_fee", "8880"),
        ("cash_fee", "8880"),
        ("transaction_id", "4200000443201912243367650720"),
        ("out_trade_no", "T20261127001"),
        ("time_end", "20261127120001"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let signature = sign(&fields, WECHAT_KEY, SignType::Md5);
    fields.insert("sign".into(), signature);
    xml::write(&fields)
}

fn measure(what: &str, ops: u64, mut op: impl FnMut()) -> Measurement {
    let started = Instant::now();
    for _ in 0..ops {
        op();
    }
    Measurement {
        what: what.to_owned(),
        events: ops,
        elapsed: started.elapsed(),
    }
}

pub fn run(args: SignArgs) -> anyhow::Result<()> {
    let request = micropay_request();
    let response = paid_response();
    let private = AppPrivateKey::from_pkcs8_pem(APP_PRIVATE).context("app private key")?;
    let public = AlipayPublicKey::from_spki_pem(APP_PUBLIC).context("app public key")?;
    let signature = private.sign(ALIPAY_CONTENT).context("RSA signing")?;
    anyhow::ensure!(
        public.verify(ALIPAY_CONTENT.as_bytes(), &signature),
        "RSA verify of a fresh signature failed"
    );
    anyhow::ensure!(
        read_envelope(response.as_bytes(), WECHAT_KEY, SignType::Md5).is_ok(),
        "paid response does not verify"
    );

    let rows = [
        measure(
            "WeChat MD5 sign (13-field micropay request)",
            args.hash_ops,
            || {
                black_box(sign(black_box(&request), WECHAT_KEY, SignType::Md5));
            },
        ),
        measure(
            "WeChat HMAC-SHA256 sign (same request)",
            args.hash_ops,
            || {
                black_box(sign(black_box(&request), WECHAT_KEY, SignType::HmacSha256));
            },
        ),
        measure(
            "WeChat read paid response (XML parse + MD5 verify)",
            args.hash_ops,
            || {
                let _ = black_box(read_envelope(
                    black_box(response.as_bytes()),
                    WECHAT_KEY,
                    SignType::Md5,
                ));
            },
        ),
        measure(
            "Alipay RSA2 sign (2048-bit, trade.pay request)",
            args.rsa_ops,
            || {
                let _ = black_box(private.sign(black_box(ALIPAY_CONTENT)));
            },
        ),
        measure("Alipay RSA2 verify (2048-bit)", args.rsa_ops, || {
            black_box(public.verify(black_box(ALIPAY_CONTENT.as_bytes()), &signature));
        }),
    ];
    println!("## Signatures (one core)\n");
    println!("Operations per second on one thread; `events` counts signatures or verifications.\n");
    print!("{}", table(&rows));
    println!(
        "\nRSA2 signing runs {} times per second: far above any till's rate.",
        thousands(rows[3].rate())
    );
    Ok(())
}
