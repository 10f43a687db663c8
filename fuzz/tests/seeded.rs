//! A short seeded fuzz run (what `scripts/test.sh` runs through `cargo test`) and proof that
//! the fuzzer's checks can fail: a chain broken on purpose between transactions is caught.

use frame_support::traits::fungible::Mutate;
use sp_keyring::Sr25519Keyring;
use tokenmeter_fuzz::{chain::genesis_storage, run, Report, RunConfig};
use tokenmeter_runtime::{Balances, Runtime, UNIT};

const CONFIG: RunConfig = RunConfig { blocks: 30, max_transactions: 24 };

fn short_run(seeds: std::ops::Range<u64>) -> Report {
	let genesis = genesis_storage("development").expect("the development preset builds");
	let mut report = Report::default();
	for seed in seeds {
		report.merge(run(&genesis, seed, CONFIG, None));
	}
	report
}

#[test]
fn a_seeded_run_keeps_every_invariant_and_reaches_every_pallet() {
	let report = short_run(1..5);
	assert!(report.clean(), "panics: {:?}\nviolations: {:?}", report.panics, report.violations);
	assert_eq!(report.runs, 4);
	assert_eq!(report.blocks, 4 * u64::from(CONFIG.blocks));
	assert!(report.transactions > 500, "{} transactions", report.transactions);
	// Every pallet's calls were dispatched successfully at least once.
	for pallet in [
		"Balances",
		"Utility",
		"Sudo",
		"InferenceCredits",
		"PriorityStaking",
		"AgentWallet",
		"FeedbackRewards",
		"UsageAttestation",
	] {
		let ok: u64 = report
			.calls
			.iter()
			.filter(|(name, _)| name.starts_with(&format!("{pallet}.")))
			.map(|(_, c)| c.ok)
			.sum();
		assert!(ok > 0, "no successful call of {pallet}: {:#?}", report.calls);
	}
	assert!(report.calls.len() >= 40, "{} kinds of calls", report.calls.len());
}

#[test]
fn the_same_seed_gives_the_same_run() {
	let (a, b) = (short_run(7..8), short_run(7..8));
	assert_eq!(a.transactions, b.transactions);
	let outcomes = |r: &Report| {
		r.calls.iter().map(|(n, c)| (n.clone(), c.ok, c.failed, c.invalid)).collect::<Vec<_>>()
	};
	assert_eq!(outcomes(&a), outcomes(&b));
}

fn mint_at_block_3(n: u32) {
	if n == 3 {
		let _ = Balances::mint_into(&Sr25519Keyring::Bob.to_account_id(), UNIT);
	}
}

#[test]
fn minting_out_of_thin_air_is_caught() {
	let genesis = genesis_storage("development").expect("the development preset builds");
	let report = run(&genesis, 1, CONFIG, Some(mint_at_block_3));
	assert_eq!(report.violations.len(), 1, "{:?}", report.violations);
	assert!(
		report.violations[0].contains("block 3: 1000000000000 minted"),
		"{}",
		report.violations[0]
	);
	assert_eq!(report.blocks, 2, "the run stops at the broken block");
}

fn break_credits_ledger_at_block_2(n: u32) {
	if n == 2 {
		pallet_inference_credits::Credits::<Runtime>::insert(
			Sr25519Keyring::Eve.to_account_id(),
			7 * UNIT,
		);
	}
}

#[test]
fn a_broken_pallet_invariant_is_caught() {
	let genesis = genesis_storage("development").expect("the development preset builds");
	let report = run(&genesis, 1, CONFIG, Some(break_credits_ledger_at_block_2));
	assert_eq!(report.violations.len(), 1, "{:?}", report.violations);
	assert!(
		report.violations[0].contains("block 2: inference credits"),
		"{}",
		report.violations[0]
	);
	assert_eq!(report.blocks, 1, "the run stops at the broken block");
}

fn panic_at_block_4(n: u32) {
	assert_ne!(n, 4, "a runtime panic");
}

#[test]
fn a_panic_is_caught_and_reported() {
	let genesis = genesis_storage("development").expect("the development preset builds");
	let report = run(&genesis, 1, CONFIG, Some(panic_at_block_4));
	assert_eq!(report.panics.len(), 1, "{:?}", report.panics);
	assert!(report.panics[0].contains("block 4") && report.panics[0].contains("a runtime panic"));
	assert!(report.violations.is_empty());
}

fn defensive_failure_at_block_2(n: u32) {
	if n == 2 {
		frame_support::defensive!("a state that cannot happen");
	}
}

#[test]
fn a_defensive_failure_is_caught() {
	let genesis = genesis_storage("development").expect("the development preset builds");
	let report = run(&genesis, 1, CONFIG, Some(defensive_failure_at_block_2));
	// A release build logs it and the fuzzer's logger reports it; a debug build panics.
	let found: Vec<&String> = report.violations.iter().chain(&report.panics).collect();
	assert_eq!(found.len(), 1, "{found:?}");
	assert!(found[0].contains("block 2") && found[0].contains("cannot happen"), "{}", found[0]);
}
