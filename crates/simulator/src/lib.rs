//! paycode-sim: one HTTP server that plays WeChat Pay v2 and Alipay for paycode's tests and demo.
//!
//! It serves the providers' real paths (WeChat `/pay/micropay` and friends at the root, Alipay `POST /gateway.do`),
//! verifies every request signature and signs every answer, keeps its own ledger of trades with the providers' state machines,
//! plays scenarios chosen by payment-code markers or the control API, injects seeded faults, and produces bill files in the
//! providers' formats. The control API under `/_sim/` lets tests read trades, set scenarios and faults, move the clock and tamper
//! with bills. It implements the provider side from the protocol facts alone and never calls paycode's client crates.
//!
//! Use [`Simulator::new`] + [`Simulator::router`] for tests without a socket, or [`start`] for a real listener.

mod alipay;
pub mod amount;
pub mod bills;
pub mod clock;
pub mod config;
pub mod control;
pub mod crypto;
pub mod faults;
mod gbk_zip;
pub mod ledger;
mod prng;
pub mod scenario;
mod wechat;
pub mod xml;

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use crate::bills::BillTamper;
pub use crate::config::{AlipayApp, ClockConfig, Secret, SimConfig, WechatMerchant};
pub use crate::control::{RefundView, TradeView};
pub use crate::faults::{AfterHold, CallKind, Decision, EffectPolicy, Fault, FaultConfig, Target};
pub use crate::ledger::Provider;
pub use crate::scenario::Scenario;

use crate::bills::BillState;
use crate::clock::SimClock;
use crate::crypto::{RsaSigner, RsaVerifier};
use crate::faults::FaultState;
use crate::ledger::{Ledger, PayPolicy};

/// What can go wrong starting the simulator; once running, every problem is an HTTP answer, never an error here.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The configuration is unusable (unknown field, missing key file, bad key, fault shares over 100 %).
    #[error("configuration: {0}")]
    Config(String),
    /// A control request was malformed (e.g. a tamper with an unparsable amount).
    #[error("invalid control request: {0}")]
    Invalid(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// An Alipay app's parsed keys.
#[derive(Debug)]
pub(crate) struct AlipayKeys {
    pub(crate) verifier: RsaVerifier,
    pub(crate) signer: RsaSigner,
}

/// State shared by all handlers. The mutexes are std mutexes: each is held for a few map operations and never across an await.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: SimConfig,
    pub(crate) clock: SimClock,
    pub(crate) pay_policy: PayPolicy,
    pub(crate) alipay_keys: Vec<AlipayKeys>,
    ledger: Mutex<Ledger>,
    faults: Mutex<FaultState>,
    bills: Mutex<BillState>,
}

fn relock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these maps half-updated in a way worse than the panic itself.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn lock_ledger(&self) -> MutexGuard<'_, Ledger> {
        relock(&self.ledger)
    }
    pub(crate) fn lock_faults(&self) -> MutexGuard<'_, FaultState> {
        relock(&self.faults)
    }
    pub(crate) fn lock_bills(&self) -> MutexGuard<'_, BillState> {
        relock(&self.bills)
    }
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
    pub(crate) fn reset(&self) {
        self.lock_ledger().clear();
        *self.lock_faults() = FaultState::new(self.config.faults.clone());
        *self.lock_bills() = BillState::default();
    }
}

/// A simulator without a socket: its router can be driven with `tower::ServiceExt::oneshot`, and its state read and steered directly.
#[derive(Debug, Clone)]
pub struct Simulator {
    shared: Arc<Shared>,
}

impl Simulator {
    pub fn new(config: SimConfig) -> Result<Simulator, SimError> {
        config.faults.validate().map_err(SimError::Config)?;
        let alipay_keys = config
            .alipay
            .iter()
            .map(|app| {
                let context = |e: crypto::KeyError| {
                    SimError::Config(format!("alipay app {}: {e}", app.app_id))
                };
                Ok(AlipayKeys {
                    verifier: RsaVerifier::from_pem(&app.app_public_key_pem).map_err(context)?,
                    signer: RsaSigner::from_pem(app.gateway_private_key_pem.expose())
                        .map_err(context)?,
                })
            })
            .collect::<Result<Vec<_>, SimError>>()?;
        let origin = config.clock.start.unwrap_or_else(Utc::now);
        let shared = Shared {
            clock: SimClock::new(origin, config.clock.frozen),
            pay_policy: PayPolicy {
                password_threshold: config.password_threshold,
                password_delay: chrono::Duration::seconds(
                    i64::try_from(config.password_delay_secs).unwrap_or(i64::MAX / 1000),
                ),
                wechat_auto_revoke: (config.wechat_auto_revoke_secs > 0).then(|| {
                    chrono::Duration::seconds(
                        i64::try_from(config.wechat_auto_revoke_secs).unwrap_or(i64::MAX / 1000),
                    )
                }),
            },
            alipay_keys,
            ledger: Mutex::new(Ledger::new(config.id_seed)),
            faults: Mutex::new(FaultState::new(config.faults.clone())),
            bills: Mutex::new(BillState::default()),
            config,
        };
        Ok(Simulator {
            shared: Arc::new(shared),
        })
    }

    /// All routes: the providers' paths (behind the fault layer), the Alipay bill download and the control API.
    pub fn router(&self) -> Router {
        let providers = Router::new()
            .route("/pay/micropay", post(wechat::micropay))
            .route("/pay/orderquery", post(wechat::orderquery))
            .route("/secapi/pay/reverse", post(wechat::reverse))
            .route("/secapi/pay/refund", post(wechat::refund))
            .route("/pay/refundquery", post(wechat::refundquery))
            .route("/pay/closeorder", post(wechat::closeorder))
            .route("/pay/downloadbill", post(wechat::downloadbill))
            .route("/gateway.do", post(alipay::gateway).get(alipay::gateway))
            .layer(axum::middleware::from_fn_with_state(
                self.shared.clone(),
                faults::layer,
            ));
        Router::new()
            .merge(providers)
            .route("/_bill/alipay/{token}", get(bills::alipay_download))
            .merge(control::routes())
            .with_state(self.shared.clone())
    }

    /// The simulator clock's now.
    pub fn now(&self) -> DateTime<Utc> {
        self.shared.now()
    }

    /// Moves the simulator clock forward by `secs`; returns the new now.
    pub fn advance_clock(&self, secs: u64) -> DateTime<Utc> {
        self.shared.clock.advance(chrono::Duration::seconds(
            i64::try_from(secs).unwrap_or(i64::MAX / 1000),
        ))
    }

    /// Replaces the fault settings (and reseeds the generator from `faults.seed`).
    pub fn set_faults(&self, faults: FaultConfig) -> Result<(), SimError> {
        faults.validate().map_err(SimError::Config)?;
        *self.shared.lock_faults() = FaultState::new(faults);
        Ok(())
    }

    /// The latest fault decisions, oldest first.
    pub fn fault_log(&self) -> Vec<Decision> {
        self.shared.lock_faults().log()
    }

    /// Sets the scenario for a future payment with this out_trade_no (either provider); it wins over code markers.
    pub fn set_scenario(&self, out_trade_no: &str, scenario: Scenario) {
        self.shared
            .lock_ledger()
            .set_scenario(out_trade_no.to_owned(), scenario);
    }

    /// Forgets every trade, scenario override, bill tamper and download URL, and restores the configured faults;
    /// the clock keeps its time (it never goes back).
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Every trade, settled to the simulator clock.
    pub fn trades(&self) -> Vec<TradeView> {
        control::trade_views(&self.shared)
    }

    /// Adds a bill tamper for reconciliation tests; refuses a malformed amount.
    pub fn tamper_bill(&self, tamper: BillTamper) -> Result<(), SimError> {
        let tamper = tamper.resolved(self.now()).map_err(SimError::Invalid)?;
        self.shared.lock_bills().tampers.push(tamper);
        Ok(())
    }
}

/// A simulator listening on a socket. Dropping it stops the server.
#[derive(Debug)]
pub struct RunningSim {
    sim: Simulator,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

/// Starts the simulator on `listen` (port 0 picks a free port; read it back with [`RunningSim::addr`]).
pub async fn start(config: SimConfig, listen: SocketAddr) -> Result<RunningSim, SimError> {
    let sim = Simulator::new(config)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| SimError::Listen {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SimError::Listen {
        addr: listen,
        source,
    })?;
    let (stop, stopped) = oneshot::channel::<()>();
    let router = sim.router();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!(%addr, "paycode-sim listening");
    Ok(RunningSim {
        sim,
        addr,
        stop: Some(stop),
        task,
    })
}

/// How long shutdown waits for in-flight requests (a held "timeout" fault may never finish on its own).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

impl RunningSim {
    /// `http://127.0.0.1:PORT`, without a trailing slash: both providers' paths go right after it.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn sim(&self) -> &Simulator {
        &self.sim
    }

    /// Stops accepting, lets in-flight requests finish for a short grace period, then stops.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

impl Deref for RunningSim {
    type Target = Simulator;
    fn deref(&self) -> &Simulator {
        &self.sim
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}
