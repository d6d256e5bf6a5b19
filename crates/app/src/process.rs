//! The payment process manager: calls the providers and records every
//! answer as an event before anything is decided on it (design.md section 4).
//!
//! It is the only door through which anything changes an order: the till's
//! and the back office's requests come in as typed operations (pay, retry
//! with a new code, reverse, refund, a person's resolutions), and each keeps
//! the work list, the manual queue and the metrics in step with what it
//! appended. [`PaymentProcess::pay`] appends `PaymentRequested` and, only if
//! this call's append created the order, calls the provider's pay API once.
//! [`PaymentProcess::run_due`] does the follow-up work the domain says is due
//! (`Order::next_due`): polls, the deadline tick, reversal calls, refund
//! calls and refund polls. Its reads ([`PaymentProcess::order`],
//! [`PaymentProcess::settle`]) fold the order's stream.
//!
//! All timers come from the log. The work list is a cache of `next_due` over
//! open orders: [`PaymentProcess::recover`] rebuilds it from the store at
//! start-up, and every command re-enters the order with its new due time. An
//! order whose pay answer never reached the log (a crash between append and
//! answer) is due for a poll like any paying order: it is queried, then
//! reversed at the deadline; paycode never repeats a pay call on its own.
//!
//! Two workers on one order are settled by the expected version in
//! `OrderService::execute`; the provider calls they make are idempotent
//! queries, reversals and refunds with fixed numbers.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use paycode_domain::{
    AuthCode, Due, ManualOutcome, ManualReversalReason, MerchantId, Order, OrderCommand,
    OutRefundNo, OutTradeNo, Policy, Provider as ProviderKind, RefundResolution, RequestPayment,
    RequestRefund, Status, is_order_stream,
};
use paycode_provider::{PayRequest, Provider, RefundQueryRequest, RefundRequest, TradeRef};
use std::time::Duration;

use paycode_store::{EventStore, Leases, SingleNode, StreamName, Subscription};

use crate::answers;
use crate::clock::{Clock, IdSource};
use crate::metrics::Metrics;
use crate::orders::{AppError, Executed, OrderService, order_stream_name};
use crate::reconciliation::BillAccount;
use crate::replay::project_orders;
use crate::share::{ClusterView, WorkShare};
use crate::streams::fold_recorded;

/// The provider accounts paycode may use: one client per merchant and
/// provider, and the identity its daily bill must show.
#[derive(Debug, Default)]
pub struct ProviderDirectory {
    clients: HashMap<(MerchantId, ProviderKind), Arc<dyn Provider>>,
    bill_accounts: HashMap<(MerchantId, ProviderKind), BillAccount>,
}

impl ProviderDirectory {
    pub fn insert(&mut self, merchant: MerchantId, client: Arc<dyn Provider>) {
        self.clients.insert((merchant, client.kind()), client);
    }

    /// Records the account a merchant's bill at `account.provider()` must
    /// belong to.
    pub fn insert_bill_account(&mut self, merchant: MerchantId, account: BillAccount) {
        self.bill_accounts
            .insert((merchant, account.provider()), account);
    }

    /// The account a merchant's bill at `kind` must belong to.
    pub fn bill_account(&self, merchant: &MerchantId, kind: ProviderKind) -> Option<&BillAccount> {
        self.bill_accounts.get(&(merchant.clone(), kind))
    }

    pub fn get(&self, merchant: &MerchantId, kind: ProviderKind) -> Option<&Arc<dyn Provider>> {
        self.clients.get(&(merchant.clone(), kind))
    }

    /// Every configured account, by merchant (for the start-up self-check).
    pub fn accounts(&self) -> Vec<(MerchantId, Arc<dyn Provider>)> {
        let mut accounts: Vec<_> = self
            .clients
            .iter()
            .map(|((merchant, _), client)| (merchant.clone(), client.clone()))
            .collect();
        accounts.sort_by(|a, b| (&a.0, a.1.kind().as_str()).cmp(&(&b.0, b.1.kind().as_str())));
        accounts
    }
}

/// Why a payment could not be started or worked on.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("merchant {merchant} has no {provider} account configured")]
    ProviderNotConfigured {
        merchant: MerchantId,
        provider: ProviderKind,
    },
    #[error(transparent)]
    App(#[from] AppError),
}

/// The orders with work due, by due time. A std mutex: held for map updates
/// only, never across an await.
#[derive(Debug, Default)]
struct WorkList {
    by_time: BTreeSet<(DateTime<Utc>, String)>,
    by_stream: HashMap<String, DateTime<Utc>>,
    /// Orders that need a person, for the manual-queue gauge.
    attention: HashSet<String>,
}

impl WorkList {
    fn set(&mut self, stream: &str, due: Option<DateTime<Utc>>) {
        if let Some(old) = self.by_stream.remove(stream) {
            self.by_time.remove(&(old, stream.to_owned()));
        }
        if let Some(at) = due {
            self.by_stream.insert(stream.to_owned(), at);
            self.by_time.insert((at, stream.to_owned()));
        }
    }

    fn flag(&mut self, stream: &str, needs_attention: bool) {
        if needs_attention {
            self.attention.insert(stream.to_owned());
        } else {
            self.attention.remove(stream);
        }
    }

    /// Takes up to `limit` orders due by `now` that `mine` accepts; the
    /// others stay listed for whoever holds their partition.
    fn take_due(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
        mine: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        let due: Vec<_> = self
            .by_time
            .iter()
            .take_while(|(at, _)| *at <= now)
            .filter(|(_, stream)| mine(stream))
            .take(limit)
            .cloned()
            .collect();
        for (at, stream) in &due {
            self.by_time.remove(&(*at, stream.clone()));
            self.by_stream.remove(stream);
        }
        due.into_iter().map(|(_, stream)| stream).collect()
    }

    fn next(&self, mine: impl Fn(&str) -> bool) -> Option<DateTime<Utc>> {
        self.by_time
            .iter()
            .find(|(_, stream)| mine(stream))
            .map(|(at, _)| *at)
    }
}

/// What a payment process is built from.
#[derive(Debug, Clone)]
pub struct ProcessSetup {
    pub store: Arc<dyn EventStore>,
    pub policy: Policy,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdSource>,
    pub providers: Arc<ProviderDirectory>,
}

/// How many folded orders `follow_log` keeps between events: the orders in
/// flight for some seconds of traffic; past it the cache starts again empty.
const FOLLOW_CACHE: usize = 65_536;

/// How many orders are worked at once. Provider calls wait on the network
/// (a timeout holds a call for seconds), so work runs side by side; the bound
/// keeps a backlog from opening thousands of connections at once.
const MAX_PARALLEL_WORK: usize = 64;

/// How many due orders one `run_due` call works on: a bound on one sweep so
/// a huge backlog after an outage is worked in slices, newest work not starved.
const DUE_SWEEP: usize = 256;

#[derive(Debug, Clone)]
pub struct PaymentProcess {
    orders: OrderService,
    providers: Arc<ProviderDirectory>,
    work: Arc<Mutex<WorkList>>,
    metrics: Arc<Metrics>,
    /// Which partitions' work this node holds, kept at its fair share.
    share: Arc<WorkShare>,
}

impl PaymentProcess {
    /// A process on a store no other node shares: it holds all the work.
    pub fn new(setup: ProcessSetup) -> PaymentProcess {
        PaymentProcess::with_leases(setup, Arc::new(SingleNode), "single-node".into())
    }

    /// A process that shares the store with other nodes and works only the
    /// partitions whose leases it holds (the worker renews and balances them).
    pub fn with_leases(
        setup: ProcessSetup,
        leases: Arc<dyn Leases>,
        node: String,
    ) -> PaymentProcess {
        PaymentProcess {
            orders: OrderService::new(setup.store, setup.policy, setup.clock, setup.ids),
            providers: setup.providers,
            work: Arc::default(),
            metrics: Arc::default(),
            share: Arc::new(WorkShare::new(leases, node)),
        }
    }

    /// How many partitions' work this node may do now.
    pub fn partitions_held(&self) -> u32 {
        self.share.partitions_held()
    }

    /// The follow-up work of the partitions this node holds: how many orders
    /// have work listed, and how long the oldest due one has waited (zero
    /// when nothing is overdue).
    pub fn held_work(&self) -> (u64, Duration) {
        let now = self.orders.now();
        let mine = self.share.holder();
        let work = self.work();
        let mut count = 0;
        let mut oldest = None;
        for (at, stream) in &work.by_time {
            if mine(stream) {
                count += 1;
                oldest.get_or_insert(*at);
            }
        }
        let waited = oldest
            .map(|at| (now - at).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(Duration::ZERO);
        (count, waited)
    }

    /// The live nodes and the partitions' leases, as the store has them
    /// (`paycode cluster status`, the back office's `cluster` query).
    pub async fn cluster(&self) -> Result<ClusterView, paycode_store::StoreError> {
        let (count, waited) = self.held_work();
        self.share.view(count, waited.as_secs()).await
    }

    /// Hands this node's partitions over and leaves the node table: for a
    /// node that stops on purpose (`paycode serve` on SIGTERM or Ctrl-C).
    pub async fn leave(&self) {
        self.share.leave().await;
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Orders on the manual-intervention queue, as far as this node has seen them.
    pub fn manual_queue_size(&self) -> usize {
        self.work().attention.len()
    }

    /// Orders with follow-up work on this node's work list (of every
    /// partition: a node lists the work its leases do not let it do yet).
    pub fn work_list_size(&self) -> usize {
        self.work().by_stream.len()
    }

    /// The deadlines, intervals and bounds the process works by.
    pub fn policy(&self) -> &Policy {
        self.orders.policy()
    }

    /// The process's clock (injected: tests and the demo move it by hand).
    pub fn now(&self) -> DateTime<Utc> {
        self.orders.now()
    }

    pub(crate) fn store(&self) -> &Arc<dyn EventStore> {
        self.orders.store()
    }

    /// A merchant's order as it stands, folded from its stream.
    pub async fn order(
        &self,
        merchant: &MerchantId,
        out_trade_no: &OutTradeNo,
    ) -> Result<Option<Order>, AppError> {
        self.orders
            .load(&order_stream_name(merchant, out_trade_no))
            .await
    }

    /// Long-poll: waits until the order of `executed` settles or `wait`
    /// passes, re-reading it whenever the log moves.
    pub async fn settle(
        &self,
        mut executed: Executed,
        wait: Duration,
    ) -> Result<Executed, AppError> {
        let deadline = tokio::time::Instant::now() + wait;
        let stream = match &executed.order {
            Some(order) => order_stream_name(&order.merchant, &order.out_trade_no),
            None => return Ok(executed),
        };
        let mut head = self.store().watch_head();
        while executed
            .order
            .as_ref()
            .is_some_and(|o| !PaymentProcess::is_settled(o))
        {
            // Checked here, not only by the timeout: while other orders keep
            // the log moving, `changed()` is ready at every turn and a timeout
            // that is already due never fires, so the loop would reload this
            // order for as long as the traffic lasts (seen: pending payments
            // with `wait_seconds: 0` answered after 0.3 to 3.6 s under load).
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            match tokio::time::timeout_at(deadline, head.changed()).await {
                Ok(Ok(())) => executed.order = self.orders.load(&stream).await?,
                Ok(Err(_)) | Err(_) => break,
            }
        }
        Ok(executed)
    }

    /// The merchants' provider clients (reconciliation downloads bills with them).
    pub fn providers(&self) -> &ProviderDirectory {
        &self.providers
    }

    fn work(&self) -> std::sync::MutexGuard<'_, WorkList> {
        self.work
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Rebuilds the work list from the log. Returns how many orders have work.
    /// Returns the head it started from, for [`PaymentProcess::follow_log`].
    pub async fn recover(&self) -> Result<(usize, u64), AppError> {
        let head = self.orders.store().head().await?;
        let orders = project_orders(self.orders.store().as_ref()).await?;
        let policy = self.orders.policy();
        let mut work = self.work();
        for (stream, order) in &orders {
            work.set(stream, order.next_due(policy).map(|(at, _)| at));
            work.flag(stream, order.needs_attention);
        }
        Ok((work.by_stream.len(), head))
    }

    /// When the earliest known work is due.
    pub fn next_due_at(&self) -> Option<DateTime<Utc>> {
        let mine = self.share.holder();
        self.work().next(mine)
    }

    /// Beats and balances this node's leases at its fair share (see
    /// `share.rs`).
    pub(crate) async fn renew_leases(&self) {
        let (count, waited) = self.held_work();
        self.share.renew(count, waited.as_secs()).await;
    }

    /// Whether other nodes share the store: then this node must follow the
    /// log for orders they create, and renew its leases.
    pub(crate) fn shared(&self) -> bool {
        self.share.shared()
    }

    /// Keeps the work list in step with appends made by other nodes: every
    /// order event from `after` on re-reads its order and its due time.
    /// Runs until the store fails; the caller restarts it.
    ///
    /// The orders it folded are kept (up to [`FOLLOW_CACHE`]), so an event
    /// that follows the one kept is folded on top of it and only an order
    /// not kept is read back from its stream: every node follows every
    /// append, and reading each order's whole stream again for each of its
    /// events would multiply the store's reads by the number of nodes.
    pub(crate) async fn follow_log(&self, after: u64) -> Result<(), AppError> {
        let mut subscription = Subscription::new(self.orders.store().clone(), after);
        let mut folded: HashMap<String, Order> = HashMap::new();
        loop {
            let event = subscription.next().await?;
            let stream = event.stream.as_str();
            if !is_order_stream(stream) {
                continue;
            }
            let kept = folded.remove(stream);
            let folded_up_to = kept.as_ref().map_or(0, |o| o.version);
            let order = if folded_up_to >= event.version {
                kept // already in the state read back from the stream
            } else if folded_up_to + 1 == event.version {
                Some(fold_recorded(kept, &event)?)
            } else {
                self.orders.load(&event.stream).await?
            };
            self.reschedule(&event.stream, order.as_ref());
            if let Some(order) = order {
                if folded.len() >= FOLLOW_CACHE {
                    folded.clear();
                }
                folded.insert(stream.to_owned(), order);
            }
        }
    }

    fn reschedule(&self, stream: &StreamName, order: Option<&Order>) {
        let due = order
            .and_then(|o| o.next_due(self.orders.policy()))
            .map(|(at, _)| at);
        let mut work = self.work();
        work.set(stream.as_str(), due);
        work.flag(stream.as_str(), order.is_some_and(|o| o.needs_attention));
    }

    async fn execute(
        &self,
        stream: &StreamName,
        command: &OrderCommand,
    ) -> Result<Executed, AppError> {
        let executed = self.orders.execute(stream, command).await?;
        if let Some(order) = &executed.order {
            self.metrics
                .record_events(order.provider(), &executed.events);
            log_events(stream, order, &executed.events);
        }
        self.reschedule(stream, executed.order.as_ref());
        Ok(executed)
    }

    /// Times one provider call for the latency histogram.
    async fn timed<T>(
        &self,
        provider: ProviderKind,
        call: &'static str,
        work: impl Future<Output = T>,
    ) -> T {
        let started = std::time::Instant::now();
        let answer = work.await;
        self.metrics.record_call(provider, call, started.elapsed());
        answer
    }

    /// A POS payment request. Creates the order and charges the code once;
    /// a repeat of the identical request returns the order as it stands.
    pub async fn pay(&self, request: RequestPayment) -> Result<Executed, ProcessError> {
        let kind = request.auth_code.provider();
        let client = self
            .providers
            .get(&request.merchant, kind)
            .ok_or_else(|| ProcessError::ProviderNotConfigured {
                merchant: request.merchant.clone(),
                provider: kind,
            })?
            .clone();
        let stream = order_stream_name(&request.merchant, &request.out_trade_no);
        let auth_code = request.auth_code.clone();
        let created = self
            .execute(&stream, &OrderCommand::RequestPayment(request))
            .await?;
        if created.events.is_empty() {
            return Ok(created); // the identical request again: its first call did the work
        }
        Ok(self
            .charge(&stream, created, client.as_ref(), auth_code)
            .await)
    }

    /// A cashier's retry of a definitely failed order with a new code.
    pub async fn retry(
        &self,
        merchant: &MerchantId,
        out_trade_no: &OutTradeNo,
        auth_code: AuthCode,
    ) -> Result<Executed, ProcessError> {
        let kind = auth_code.provider();
        let client = self
            .providers
            .get(merchant, kind)
            .ok_or_else(|| ProcessError::ProviderNotConfigured {
                merchant: merchant.clone(),
                provider: kind,
            })?
            .clone();
        let stream = order_stream_name(merchant, out_trade_no);
        let retried = self
            .execute(
                &stream,
                &OrderCommand::RetryPayment {
                    auth_code: auth_code.clone(),
                },
            )
            .await?;
        if retried.events.is_empty() {
            return Ok(retried);
        }
        Ok(self
            .charge(&stream, retried, client.as_ref(), auth_code)
            .await)
    }

    /// Calls pay for the order's current attempt and records the answer.
    ///
    /// Once the pay call went out the customer may have been charged, so
    /// nothing after it is an error for the till: when the answer cannot be
    /// recorded (another writer kept winning, the store failed), the order
    /// is answered as it stands and the follow-up work (polls, the deadline)
    /// finds the truth. The till hears a refusal only for a request that
    /// never reached the provider (design.md section 4.7).
    async fn charge(
        &self,
        stream: &StreamName,
        requested: Executed,
        client: &dyn Provider,
        auth_code: AuthCode,
    ) -> Executed {
        let Some(order) = requested.order.as_ref() else {
            return requested;
        };
        let attempt = order.current_attempt();
        let request = PayRequest {
            out_trade_no: provider_order_no(order),
            auth_code,
            amount: order.amount,
            subject: order.subject.clone(),
            terminal_id: order.terminal_id.clone(),
        };
        let answer = self.timed(client.kind(), "pay", client.pay(&request)).await;
        let (outcome, reply) = answers::pay(&answer, self.orders.now());
        tracing::info!(
            stream = stream.as_str(),
            merchant = %order.merchant,
            attempt = attempt.number,
            code = reply.code,
            "pay answered"
        );
        let command = OrderCommand::RecordPayAnswer {
            attempt: attempt.number,
            outcome,
            reply,
        };
        let recorded = self.execute(stream, &command).await;
        self.answer_as_it_stands(stream, requested, recorded).await
    }

    /// The till's answer after a provider call that may have had an effect:
    /// what was recorded, or, when recording failed, the order as it stands
    /// (with the request's own events, so the till still hears "created").
    async fn answer_as_it_stands(
        &self,
        stream: &StreamName,
        requested: Executed,
        recorded: Result<Executed, AppError>,
    ) -> Executed {
        let error = match recorded {
            Ok(mut recorded) => {
                let mut events = requested.events;
                events.append(&mut recorded.events);
                recorded.events = events;
                recorded.position = recorded.position.or(requested.position);
                return recorded;
            }
            Err(error) => error,
        };
        tracing::warn!(
            stream = stream.as_str(),
            %error,
            "the provider's answer could not be recorded; answering the order as it stands"
        );
        let order = match self.orders.load(stream).await {
            Ok(fresh) => fresh.or(requested.order),
            Err(_) => requested.order,
        };
        Executed {
            order,
            events: requested.events,
            position: requested.position,
        }
    }

    /// Works every order whose work is due now, up to [`MAX_PARALLEL_WORK`]
    /// at a time, and returns how many it worked once all of them are done.
    pub async fn run_due(&self) -> usize {
        let now = self.orders.now();
        let due = self.work().take_due(now, DUE_SWEEP, self.share.holder());
        let count = due.len();
        let mut tasks = tokio::task::JoinSet::new();
        for stream in due {
            while tasks.len() >= MAX_PARALLEL_WORK {
                log_join(tasks.join_next().await);
            }
            let process = self.clone();
            tasks.spawn(async move { process.work_or_reschedule(stream).await });
        }
        while let Some(joined) = tasks.join_next().await {
            log_join(Some(joined));
        }
        count
    }

    async fn work_or_reschedule(&self, stream: String) {
        let Ok(stream) = StreamName::parse(&stream) else {
            return;
        };
        if let Err(error) = self.work_on(&stream).await {
            tracing::warn!(stream = stream.as_str(), %error, "due work failed; will retry");
            // Keep the order on the list: an error here is ours or the
            // store's, and the work is still due.
            let retry_at = self.orders.now() + self.orders.policy().poll_interval();
            self.work().set(stream.as_str(), Some(retry_at));
        }
    }

    /// Does the one piece of work due for one order, from its fresh state.
    async fn work_on(&self, stream: &StreamName) -> Result<(), ProcessError> {
        let order = self.orders.load(stream).await?;
        let Some(order) = order else { return Ok(()) };
        let Some((at, due)) = order.next_due(self.orders.policy()) else {
            self.reschedule(stream, Some(&order));
            return Ok(());
        };
        if at > self.orders.now() {
            self.reschedule(stream, Some(&order));
            return Ok(());
        }
        let client = self
            .providers
            .get(&order.merchant, order.provider())
            .ok_or_else(|| ProcessError::ProviderNotConfigured {
                merchant: order.merchant.clone(),
                provider: order.provider(),
            })?
            .clone();
        let command = self.call(&order, due, client.as_ref()).await;
        match self.execute(stream, &command).await {
            Ok(_) => Ok(()),
            // Someone else recorded a newer fact first; the fresh state decides.
            Err(AppError::Rejected(rejection)) => {
                tracing::info!(
                    stream = stream.as_str(),
                    code = rejection.code(),
                    "answer no longer applies"
                );
                let fresh = self.orders.load(stream).await?;
                self.reschedule(stream, fresh.as_ref());
                Ok(())
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Makes the provider call `due` asks for and returns the command that records its answer.
    async fn call(&self, order: &Order, due: Due, client: &dyn Provider) -> OrderCommand {
        let trade = TradeRef {
            out_trade_no: provider_order_no(order),
            provider_trade_no: order.provider_trade_no.clone(),
        };
        let now = || self.orders.now();
        match due {
            Due::Poll { attempt } => {
                let answer = self
                    .timed(client.kind(), "query", client.query(&trade))
                    .await;
                let (outcome, reply) = answers::query(&answer, now());
                OrderCommand::RecordPollResult {
                    attempt,
                    outcome,
                    reply,
                }
            }
            Due::Tick => OrderCommand::Tick,
            Due::Reverse { .. } => {
                let answer = self
                    .timed(client.kind(), "reverse", client.reverse(&trade))
                    .await;
                let (outcome, reply) = answers::reverse(&answer);
                OrderCommand::RecordReversalResult { outcome, reply }
            }
            Due::Refund { out_refund_no } => {
                let request = refund_request(order, trade, &out_refund_no);
                let answer = self
                    .timed(client.kind(), "refund", client.refund(&request))
                    .await;
                let (outcome, reply) = answers::refund(&answer, request.refund_amount);
                OrderCommand::RecordRefundResult {
                    out_refund_no,
                    outcome,
                    reply,
                }
            }
            Due::PollRefund { out_refund_no } => {
                let refund = order
                    .refund(&out_refund_no)
                    .expect("a due refund exists on the order");
                let request = RefundQueryRequest {
                    trade,
                    out_refund_no: refund.provider_refund_no.clone(),
                    provider_refund_id: refund.provider_refund_id.clone(),
                };
                let answer = self
                    .timed(client.kind(), "refund_query", client.refund_query(&request))
                    .await;
                let (outcome, reply) = answers::refund_query(&answer, refund.amount);
                OrderCommand::RecordRefundPoll {
                    out_refund_no,
                    outcome,
                    reply,
                }
            }
        }
    }

    /// A refund request from the POS or the back office: recorded, then sent.
    pub async fn refund(
        &self,
        merchant: &MerchantId,
        out_trade_no: &OutTradeNo,
        refund: RequestRefund,
    ) -> Result<Executed, ProcessError> {
        let stream = order_stream_name(merchant, out_trade_no);
        let out_refund_no = refund.out_refund_no.clone();
        let command = OrderCommand::RequestRefund(refund);
        let requested = self.execute(&stream, &command).await?;
        let Some(order) = requested
            .order
            .as_ref()
            .filter(|_| !requested.events.is_empty())
        else {
            return Ok(requested);
        };
        let client = self
            .providers
            .get(merchant, order.provider())
            .ok_or_else(|| ProcessError::ProviderNotConfigured {
                merchant: merchant.clone(),
                provider: order.provider(),
            })?
            .clone();
        let trade = TradeRef {
            out_trade_no: provider_order_no(order),
            provider_trade_no: order.provider_trade_no.clone(),
        };
        let request = refund_request(order, trade, &out_refund_no);
        let answer = self
            .timed(client.kind(), "refund", client.refund(&request))
            .await;
        let (outcome, reply) = answers::refund(&answer, request.refund_amount);
        tracing::info!(
            stream = stream.as_str(),
            merchant = %merchant,
            out_refund_no = %out_refund_no,
            code = reply.code,
            "refund answered"
        );
        // The refund may have been made: from here on the till is answered
        // with the refund as it stands, never with an error.
        let recorded = self
            .execute(
                &stream,
                &OrderCommand::RecordRefundResult {
                    out_refund_no,
                    outcome,
                    reply,
                },
            )
            .await;
        Ok(self.answer_as_it_stands(&stream, requested, recorded).await)
    }

    /// A reversal asked by a cashier or an operator (`by`): recorded, then
    /// worked at once.
    pub async fn reverse(
        &self,
        merchant: &MerchantId,
        out_trade_no: &OutTradeNo,
        reason: ManualReversalReason,
        by: String,
    ) -> Result<Executed, ProcessError> {
        let stream = &order_stream_name(merchant, out_trade_no);
        let command = OrderCommand::RequestReversal { reason, by };
        let requested = self.execute(stream, &command).await?;
        if requested.events.is_empty() {
            return Ok(requested);
        }
        self.work_on(stream).await?;
        let order = self.orders.load(stream).await?;
        Ok(Executed {
            order,
            events: requested.events,
            position: requested.position,
        })
    }

    /// A person's resolution of an order's payment from the manual queue.
    /// Through the process, so the work list, the queue gauge and the
    /// metrics follow at once.
    pub async fn resolve_manually(
        &self,
        merchant: &MerchantId,
        out_trade_no: &OutTradeNo,
        by: String,
        note: String,
        outcome: ManualOutcome,
    ) -> Result<Executed, ProcessError> {
        let command = OrderCommand::ResolveManually { by, note, outcome };
        Ok(self
            .execute(&order_stream_name(merchant, out_trade_no), &command)
            .await?)
    }

    /// A person's resolution of an abnormal or unconfirmed refund.
    pub async fn resolve_refund(
        &self,
        merchant: &MerchantId,
        out_trade_no: &OutTradeNo,
        out_refund_no: OutRefundNo,
        by: String,
        note: String,
        resolution: RefundResolution,
    ) -> Result<Executed, ProcessError> {
        let command = OrderCommand::ResolveRefund {
            out_refund_no,
            by,
            note,
            resolution,
        };
        Ok(self
            .execute(&order_stream_name(merchant, out_trade_no), &command)
            .await?)
    }

    /// Whether the order needs no more automatic work for its payment.
    pub fn is_settled(order: &Order) -> bool {
        match order.status {
            Status::Success | Status::Failed | Status::Revoked | Status::TradeClosed => true,
            Status::Paying | Status::Reversing => order.needs_attention,
        }
    }
}

/// One log line per recorded fact: ERROR when a person must act (the
/// manual queue), WARN when the process retries or cannot tell, INFO for
/// every other change. Never a payment code or a key: events hold neither.
fn log_events(stream: &StreamName, order: &Order, events: &[paycode_domain::OrderEvent]) {
    use paycode_domain::OrderEvent as E;
    for event in events {
        let kind = event.event_type();
        let (stream, merchant, status) = (stream.as_str(), &order.merchant, order.status.as_str());
        match event {
            E::ReversalAbandoned(e) => tracing::error!(
                stream, %merchant, status, reason = ?e.reason, attempts = e.attempts,
                "reversal abandoned: the order is on the manual-intervention queue"
            ),
            E::PaidAfterSettlement(e) => tracing::error!(
                stream, %merchant, status, status_then = e.status_then.as_str(),
                attempt = e.attempt, provider_trade_no = e.provider_trade_no,
                "a payment was reported after the order was settled: the order is on the manual-intervention queue"
            ),
            E::PaymentUnknownReported(e) => tracing::warn!(
                stream, %merchant, attempt = e.attempt, source = ?e.source, code = e.reply.code,
                "the provider's answer did not tell whether the customer paid"
            ),
            E::ReversalRetried(e) => tracing::warn!(
                stream, %merchant, call = e.attempt, code = e.reply.code,
                next = ?e.next_attempt_at, "reverse call to be repeated"
            ),
            E::ReversalAttemptFailed(e) => tracing::warn!(
                stream, %merchant, call = e.attempt, code = e.reply.code,
                next = ?e.next_attempt_at, "reverse call failed"
            ),
            E::RefundNotConfirmed(e) if e.next_send_at.is_none() => tracing::error!(
                stream, %merchant, out_refund_no = %e.out_refund_no, code = e.reply.code,
                "refund never confirmed and its re-send budget is spent: the order is on the manual-intervention queue"
            ),
            E::RefundNotConfirmed(e) => tracing::warn!(
                stream, %merchant, out_refund_no = %e.out_refund_no, code = e.reply.code,
                next = ?e.next_send_at, "refund not confirmed; it is sent again with the same number"
            ),
            E::RefundAbnormal(e) => tracing::error!(
                stream, %merchant, out_refund_no = %e.out_refund_no, code = e.reply.code,
                "refund abnormal (the money went back to the merchant account): the order is on the manual-intervention queue"
            ),
            E::RefundFailed(e) => tracing::warn!(
                stream, %merchant, out_refund_no = %e.out_refund_no, code = e.reply.code,
                "refund failed"
            ),
            E::PaymentRequested(_)
            | E::PaymentRetried(_)
            | E::PaymentSucceeded(_)
            | E::PaymentPendingReported(_)
            | E::PaymentFailed(_)
            | E::PaymentClosedByProvider(_)
            | E::ReversalRequested(_)
            | E::OrderRevoked(_)
            | E::TradeClosed(_)
            | E::ManuallyResolved(_)
            | E::RefundRequested(_)
            | E::RefundSucceeded(_)
            | E::RefundProcessingReported(_)
            | E::RefundRetried(_)
            | E::RefundResolved(_) => {
                tracing::info!(stream, %merchant, status, event = kind, "order changed")
            }
        }
    }
}

fn log_join(joined: Option<Result<(), tokio::task::JoinError>>) {
    if let Some(Err(error)) = joined {
        tracing::error!(%error, "a work task panicked");
    }
}

/// The order number the provider knows the current attempt by.
fn provider_order_no(order: &Order) -> OutTradeNo {
    OutTradeNo::parse(order.current_attempt().provider_order_no.as_str())
        .expect("provider order numbers are valid order numbers")
}

fn refund_request(order: &Order, trade: TradeRef, out_refund_no: &OutRefundNo) -> RefundRequest {
    let refund = order
        .refund(out_refund_no)
        .expect("a due refund exists on the order");
    RefundRequest {
        trade,
        // The provider knows the refund by paycode's own number, unique
        // across the merchant account; the till's number stays ours.
        out_refund_no: refund.provider_refund_no.clone(),
        refund_amount: refund.amount,
        trade_total: order.amount,
        reason: refund.reason.clone(),
    }
}
