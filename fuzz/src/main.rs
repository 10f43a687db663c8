//! `tokenmeter-fuzz`: runs the runtime fuzzer (see the library's docs) and prints a report.
//!
//! ```text
//! tokenmeter-fuzz [--seed S] [--runs N | --seconds T] [--blocks B] [--max-txs K]
//! ```
//!
//! Defaults: seed 1, 20 runs, 40 blocks per run, up to 24 transactions per block. With
//! `--seconds`, runs follow each other until the time is up. Exits with 1 when a panic or an
//! invariant violation was found, 2 on bad arguments.

use std::{
	process::ExitCode,
	time::{Duration, Instant},
};

use tokenmeter_fuzz::{chain::genesis_storage, run, Report, RunConfig};

struct Args {
	seed: u64,
	runs: Option<u64>,
	seconds: Option<u64>,
	config: RunConfig,
}

fn parse() -> Result<Args, String> {
	let mut args = Args {
		seed: 1,
		runs: None,
		seconds: None,
		config: RunConfig { blocks: 40, max_transactions: 24 },
	};
	let mut it = std::env::args().skip(1);
	while let Some(flag) = it.next() {
		if flag == "--help" || flag == "-h" {
			return Err(String::new());
		}
		let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
		let number = value.parse::<u64>().map_err(|_| format!("{flag}: not a number: {value}"))?;
		let small = || u32::try_from(number).map_err(|_| format!("{flag}: too large: {value}"));
		match flag.as_str() {
			"--seed" => args.seed = number,
			"--runs" => args.runs = Some(number),
			"--seconds" => args.seconds = Some(number),
			"--blocks" => args.config.blocks = small()?,
			"--max-txs" => args.config.max_transactions = small()?,
			_ => return Err(format!("unknown flag {flag}")),
		}
	}
	Ok(args)
}

fn main() -> ExitCode {
	let args = match parse() {
		Ok(args) => args,
		Err(e) => {
			if !e.is_empty() {
				eprintln!("error: {e}");
			}
			eprintln!(
				"usage: tokenmeter-fuzz [--seed S] [--runs N | --seconds T] [--blocks B] [--max-txs K]"
			);
			return ExitCode::from(2);
		}
	};
	let genesis = match genesis_storage("development") {
		Ok(genesis) => genesis,
		Err(e) => {
			eprintln!("error: cannot build the development genesis: {e}");
			return ExitCode::from(2);
		}
	};
	// Runtime panics are caught and reported per run; keep their default printing short.
	std::panic::set_hook(Box::new(|info| eprintln!("panic: {info}")));

	let started = Instant::now();
	let deadline = args.seconds.map(|s| started + Duration::from_secs(s));
	let runs = args.runs.unwrap_or(if deadline.is_some() { u64::MAX } else { 20 });
	let mut report = Report::default();
	let mut last_progress = Instant::now();
	for i in 0..runs {
		if deadline.is_some_and(|d| Instant::now() >= d) {
			break;
		}
		report.merge(run(&genesis, args.seed.wrapping_add(i), args.config, None));
		if last_progress.elapsed() >= Duration::from_secs(60) {
			last_progress = Instant::now();
			println!(
				"progress: {} s, {} runs, {} blocks, {} transactions, {} panics, {} violations",
				started.elapsed().as_secs(),
				report.runs,
				report.blocks,
				report.transactions,
				report.panics.len(),
				report.violations.len()
			);
		}
	}
	print_report(&report, args.seed, started.elapsed());
	if report.clean() {
		ExitCode::SUCCESS
	} else {
		ExitCode::from(1)
	}
}

fn print_report(report: &Report, seed: u64, elapsed: Duration) {
	let ok: u64 = report.calls.values().map(|c| c.ok).sum();
	let failed: u64 = report.calls.values().map(|c| c.failed).sum();
	let invalid: u64 = report.calls.values().map(|c| c.invalid).sum();
	println!(
		"tokenmeter-fuzz: seeds {seed}..{}, {:.0} s",
		seed.wrapping_add(report.runs),
		elapsed.as_secs_f64()
	);
	println!(
		"  runs {}, blocks {}, transactions {} (dispatched ok {ok}, failed {failed}, not included {invalid})",
		report.runs, report.blocks, report.transactions
	);
	println!("  not included, by reason: {:?}", report.invalid_reasons);
	println!("  calls reached: {} kinds", report.calls.len());
	for (name, c) in &report.calls {
		println!(
			"    {name:<44} {:>8} applied {:>8} ok {:>8} failed {:>8} invalid   time/weight max {:.2}",
			c.applied, c.ok, c.failed, c.invalid, c.max_time_per_weight
		);
	}
	println!("  panics: {}", report.panics.len());
	for p in &report.panics {
		println!("    {p}");
	}
	println!("  invariant violations: {}", report.violations.len());
	for v in &report.violations {
		println!("    {v}");
	}
}
