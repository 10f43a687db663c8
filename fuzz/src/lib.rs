//! # Tokenmeter runtime fuzzer
//!
//! Random sequences of transactions from every pallet a user can reach (balances, utility
//! batches, sudo, and Tokenmeter's five pallets plus the validator set), signed by a handful
//! of accounts, applied in real blocks built with `frame-executive` exactly as the node's
//! block builder does (Aura pre-digest, timestamp inherent, `apply_extrinsic`,
//! `finalize_block`). After every block it checks:
//!
//! - **no panic** anywhere in the runtime (a panic ends the run and is reported with its seed
//!   and block);
//! - **total issuance** changed only as defined: Tokenmeter mints nothing after genesis, so
//!   the supply may only fall, by exactly the fees, dust and burns the block's events report;
//! - **every `try_state`** holds, and the balances ledger (issuance = Σ accounts) balances
//!   (`tokenmeter_runtime::invariants`);
//! - **no block over its weight**: neither the normal nor the operational class over its
//!   limit, and transactions together within the block;
//! - **no defensive failure**: FRAME's `defensive!` paths (states that "cannot happen") only
//!   log in a release build; the fuzzer installs a logger that turns them into violations.
//!
//! A run starts a fresh chain from the `development` preset and builds a number of blocks;
//! run `i` of seed `s` uses the generator seeded with `s + i`, so any failure is reproduced
//! by `tokenmeter-fuzz --seed <s+i> --runs 1 --blocks <b>`.

pub mod generate;

/// The chain in memory the fuzzer builds its blocks on (shared with the runtime's tests).
pub use tokenmeter_test_chain as chain;

use std::{
	cell::RefCell,
	collections::BTreeMap,
	panic::{catch_unwind, AssertUnwindSafe},
	time::Instant,
};

use chain::{Chain, Outcome, Violation};
use frame_support::traits::GetCallMetadata;
use sp_runtime::Storage;
use tokenmeter_runtime::{Balances, RuntimeCall, System};

/// How one run is shaped.
#[derive(Debug, Clone, Copy)]
pub struct RunConfig {
	/// Blocks per run.
	pub blocks: u32,
	/// At most this many transactions per block (each block draws 0..=this).
	pub max_transactions: u32,
}

/// What the calls of one kind did.
#[derive(Debug, Default, Clone, Copy)]
pub struct CallStats {
	/// Transactions applied.
	pub applied: u64,
	/// Included and successful.
	pub ok: u64,
	/// Included, failed.
	pub failed: u64,
	/// Not included.
	pub invalid: u64,
	/// Largest ratio of wall time (native) to the reference time its weight charges.
	pub max_time_per_weight: f64,
}

/// Totals over runs.
#[derive(Debug, Default, Clone)]
pub struct Report {
	/// Runs started.
	pub runs: u64,
	/// Blocks finished and checked.
	pub blocks: u64,
	/// Transactions applied (executions).
	pub transactions: u64,
	/// Per `pallet.call`.
	pub calls: BTreeMap<String, CallStats>,
	/// Why transactions were not included, and how often.
	pub invalid_reasons: BTreeMap<&'static str, u64>,
	/// Panics: seed, block and message.
	pub panics: Vec<String>,
	/// Invariant violations: seed and what.
	pub violations: Vec<String>,
}

impl Report {
	/// Adds another report's figures to this one.
	pub fn merge(&mut self, other: Report) {
		self.runs = self.runs.saturating_add(other.runs);
		self.blocks = self.blocks.saturating_add(other.blocks);
		self.transactions = self.transactions.saturating_add(other.transactions);
		for (name, theirs) in other.calls {
			let ours = self.calls.entry(name).or_default();
			ours.applied = ours.applied.saturating_add(theirs.applied);
			ours.ok = ours.ok.saturating_add(theirs.ok);
			ours.failed = ours.failed.saturating_add(theirs.failed);
			ours.invalid = ours.invalid.saturating_add(theirs.invalid);
			ours.max_time_per_weight = ours.max_time_per_weight.max(theirs.max_time_per_weight);
		}
		for (reason, count) in other.invalid_reasons {
			let ours = self.invalid_reasons.entry(reason).or_default();
			*ours = ours.saturating_add(count);
		}
		self.panics.extend(other.panics);
		self.violations.extend(other.violations);
	}

	/// Whether every check held.
	pub fn clean(&self) -> bool {
		self.panics.is_empty() && self.violations.is_empty()
	}
}

thread_local! {
	/// Defensive failures the runtime logged (`target: "runtime::defensive"`) on this thread
	/// since the last [`take_defensive_failures`]: each run is on one thread, so parallel
	/// runs (tests) do not see each other's.
	static DEFENSIVE_FAILURES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Collects the runtime's defensive-failure logs; other logs are dropped.
struct DefensiveLogger;

impl log::Log for DefensiveLogger {
	fn enabled(&self, metadata: &log::Metadata) -> bool {
		metadata.level() == log::Level::Error && metadata.target() == "runtime::defensive"
	}

	fn log(&self, record: &log::Record) {
		if self.enabled(record.metadata()) {
			let failure = record.args().to_string();
			DEFENSIVE_FAILURES.with(|failures| failures.borrow_mut().push(failure));
		}
	}

	fn flush(&self) {}
}

/// Installs the logger that records defensive failures (once per process; a process that has
/// installed another logger keeps it, and defensive failures then go unnoticed).
pub fn install_defensive_logger() {
	static LOGGER: DefensiveLogger = DefensiveLogger;
	if log::set_logger(&LOGGER).is_ok() {
		log::set_max_level(log::LevelFilter::Error);
	}
}

fn take_defensive_failures() -> Vec<String> {
	DEFENSIVE_FAILURES.with(|failures| std::mem::take(&mut *failures.borrow_mut()))
}

/// Whether `TOKENMETER_FUZZ_TRACE` is set: then every transaction, its outcome, and the
/// events of a block that breaks an invariant are printed (use with `--runs 1`).
fn tracing() -> bool {
	std::env::var_os("TOKENMETER_FUZZ_TRACE").is_some()
}

/// A hook that checks the chain between blocks, before the invariants; tests use it to break
/// the chain on purpose and see the fuzzer notice.
pub type Meddler = fn(u32);

/// Runs one fresh chain from `genesis` for `config.blocks` blocks with the generator seeded
/// by `seed`. `meddle`, when given, runs inside every block after its transactions.
pub fn run(genesis: &Storage, seed: u64, config: RunConfig, meddle: Option<Meddler>) -> Report {
	install_defensive_logger();
	let _ = take_defensive_failures();
	let mut report = Report { runs: 1, ..Report::default() };
	let mut chain = match Chain::new(genesis.clone()) {
		Ok(chain) => chain,
		Err(what) => {
			report.violations.push(format!("seed {seed}, genesis: {what}"));
			return report;
		}
	};
	let mut generator = generate::Generator::new(seed);

	for _ in 0..config.blocks {
		let outcome = catch_unwind(AssertUnwindSafe(|| {
			chain.execute(|| build_block(&mut generator, config, meddle, &mut report))
		}));
		match outcome {
			Ok(Ok(())) => report.blocks = report.blocks.saturating_add(1),
			Ok(Err(Violation { block, what })) => {
				report.violations.push(format!("seed {seed}, block {block}: {what}"));
				break;
			}
			Err(panic) => {
				let message = panic
					.downcast_ref::<String>()
					.cloned()
					.or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
					.unwrap_or_else(|| "(no message)".into());
				let block = report.blocks.saturating_add(1);
				report.panics.push(format!("seed {seed}, block {block}: {message}"));
				break;
			}
		}
	}
	report
}

/// Fills the current block with random transactions, then finishes and checks it.
fn build_block(
	generator: &mut generate::Generator,
	config: RunConfig,
	meddle: Option<Meddler>,
	report: &mut Report,
) -> Result<(), Violation> {
	let issuance = Balances::total_issuance();
	let count = generator.rng().below(u64::from(config.max_transactions).saturating_add(1));
	for _ in 0..count {
		let (signer, call) = generator.transaction();
		let metadata = call.get_call_metadata();
		let name = format!("{}.{}", metadata.pallet_name, metadata.function_name);
		let tip = if generator.rng().chance(10) { generator.rng().below(1_000_000) } else { 0 };
		if tracing() {
			println!("block {} {signer:?}: {call:?}", System::block_number());
		}
		let general =
			matches!(call, RuntimeCall::AgentWallet(pallet_agent_wallet::Call::pay_signed { .. }));
		let xt = if general {
			chain::general(call)
		} else {
			chain::signed(signer, call, u128::from(tip))
				.map_err(|what| Violation { block: System::block_number(), what })?
		};
		let started = Instant::now();
		let (outcome, weight) = chain::apply(xt);
		let elapsed_ps = started.elapsed().as_nanos().saturating_mul(1_000) as f64;

		// A transaction without a signer pays its fee only when its call succeeds: one the
		// block took and that then failed would have used the block for free.
		if general && matches!(outcome, Outcome::Failed) {
			return Err(Violation {
				block: System::block_number(),
				what: format!("{name} was authorized, then failed: it paid no fee"),
			});
		}
		report.transactions = report.transactions.saturating_add(1);
		let stats = report.calls.entry(name).or_default();
		stats.applied = stats.applied.saturating_add(1);
		match outcome {
			Outcome::Ok => stats.ok = stats.ok.saturating_add(1),
			Outcome::Failed => stats.failed = stats.failed.saturating_add(1),
			Outcome::Invalid(reason) => {
				stats.invalid = stats.invalid.saturating_add(1);
				let count = report.invalid_reasons.entry(reason).or_default();
				*count = count.saturating_add(1);
			}
		}
		if tracing() {
			println!("  -> {outcome:?}");
		}
		if !matches!(outcome, Outcome::Invalid(_)) && weight > 0 {
			stats.max_time_per_weight = stats.max_time_per_weight.max(elapsed_ps / weight as f64);
		}
	}
	if let Some(meddle) = meddle {
		meddle(System::block_number());
	}
	let block = System::block_number();
	let finished = chain::end_block().and_then(|()| chain::check_issuance(issuance));
	if tracing() && finished.is_err() {
		// A block that fails its checks is not followed by another: its events are still there.
		for record in System::events() {
			println!("  event: {:?}", record.event);
		}
	}
	finished?;
	if let Some(failure) = take_defensive_failures().first() {
		return Err(Violation { block, what: format!("defensive failure: {failure}") });
	}
	let next = block.saturating_add(1);
	chain::start_block(next).map_err(|what| Violation { block: next, what })
}
