//! Congestion pricing through real blocks (docs/pricing.md): a dynamically priced model sees a
//! demand curve — steady, then a burst well over its capacity, then a decline to little — and
//! its multiplier is read every epoch. Demand answers the price (elasticity 1: at twice the
//! price, half the tokens are asked for), and no more than the capacity is served.
//!
//! Writes the series (epoch, demand at the listed price, tokens served, utilisation,
//! multiplier, price per 1k input tokens) as CSV to `$PRICING_CSV`, else to
//! `<target dir>/pricing-simulation.csv`; `scripts/plot-pricing.py` draws docs/pricing.png
//! from it.

mod common;

use common::{chain_from_preset, provide_model, run_to_block, signed_voucher};
use frame_support::assert_ok;
use pallet_inference_credits::{AccessRule, PricingConfig, SettleUsage, UsageEntry};
use sp_keyring::Sr25519Keyring::{Alice, Bob};
use sp_runtime::{traits::Saturating, FixedU128, Perbill};
use tokenmeter_runtime::{
	configs::parameters::{dynamic_params::credits, RuntimeParameters},
	InferenceCredits, Parameters, RuntimeOrigin, System, UNIT,
};

/// Blocks per epoch in the simulation (the runtime's is an hour; a storage parameter).
const EPOCH: u32 = 10;
/// Tokens the model serves per epoch.
const CAPACITY: u64 = 100_000;
/// Listed price per 1,000 tokens.
const PRICE: u128 = 1_000_000;

/// Demand at the listed price, in tokens per epoch: steady at 40% of capacity, a burst at
/// 180% from epoch 10, then a decline to 10% from epoch 30 to 50.
fn demand(epoch: u32) -> u64 {
	match epoch {
		0..10 => 40_000,
		10..30 => 180_000,
		30..50 => 180_000 - u64::from(epoch - 29) * 8_500,
		_ => 10_000,
	}
}

#[test]
fn the_price_follows_a_burst_up_and_a_decline_down_within_its_bounds() {
	chain_from_preset("development").execute_with(|| {
		// A short epoch, set as a referendum (Root here) would: a runtime parameter.
		assert_ok!(Parameters::set_parameter(
			RuntimeOrigin::root(),
			RuntimeParameters::Credits(credits::Parameters::PricingEpoch(
				credits::PricingEpoch,
				Some(EPOCH)
			))
		));
		let (alice, bob) = (Alice.to_account_id(), Bob.to_account_id());
		let model = provide_model(&alice, PRICE, PRICE, AccessRule::Open);
		let config = PricingConfig {
			capacity: CAPACITY,
			target: Perbill::from_percent(50),
			min_multiplier: FixedU128::from_rational(1, 2),
			max_multiplier: FixedU128::from_u32(4),
		};
		assert_ok!(InferenceCredits::set_dynamic_pricing(
			RuntimeOrigin::signed(alice.clone()),
			model,
			Some(config)
		));
		assert_ok!(InferenceCredits::deposit_credits(RuntimeOrigin::signed(bob), 1_000 * UNIT));
		let voucher = signed_voucher(Bob, &alice, 1_000 * UNIT);

		let mut rows = vec!["epoch,demand,served,utilisation,multiplier,price_per_1k".to_string()];
		let mut multipliers = Vec::new();
		let first = InferenceCredits::pricing_epoch(System::block_number()) + 1;
		for epoch in first..first + 70 {
			run_to_block(epoch * EPOCH);
			let quote = InferenceCredits::quote(model, 1_000, 0).expect("an active model");
			let multiplier = quote.dynamic.expect("dynamically priced").multiplier;
			// Demand at this price, served up to capacity, attested in four settlements.
			let asked = (demand(epoch - first) as f64 / multiplier.to_float()) as u64;
			let served = asked.min(CAPACITY);
			for part in 0..4 {
				let tokens = (served / 4 + if part == 0 { served % 4 } else { 0 }) as u32;
				let entry = UsageEntry {
					user: Bob.to_account_id(),
					model,
					input_tokens: tokens,
					output_tokens: 0,
					served_at: System::block_number(),
					voucher: voucher.clone(),
				};
				assert_ok!(<InferenceCredits as SettleUsage<_>>::settle(&alice, vec![entry]));
				run_to_block(System::block_number() + 1);
			}
			rows.push(format!(
				"{},{},{served},{:.4},{:.6},{}",
				epoch - first,
				demand(epoch - first),
				served as f64 / CAPACITY as f64,
				multiplier.to_float(),
				quote.price_per_1k_input,
			));
			multipliers.push(multiplier);
		}

		let step = FixedU128::from_rational(1, 8);
		for pair in multipliers.windows(2) {
			let (before, after) = (pair[0], pair[1]);
			assert!(after >= config.min_multiplier && after <= config.max_multiplier);
			let most = before.saturating_mul(step) + FixedU128::from_inner(10);
			assert!(after.max(before) - after.min(before) <= most, "{before:?} -> {after:?}");
		}
		// Steady under target: down to... not below the floor. The burst: up, over several
		// epochs, not at once. The decline: back down.
		let at = |e: usize| multipliers[e].to_float();
		assert!(at(9) < 1.0 && at(9) >= 0.5);
		assert!(at(12) > at(10) && at(12) < at(10) * 1.13 * 1.13 + 1e-9);
		assert!(at(29) > 1.5, "the burst raised the price: {}", at(29));
		assert!(at(69) < at(40) && at(69) <= 0.6, "the decline lowered it: {}", at(69));

		let path = std::env::var("PRICING_CSV").unwrap_or_else(|_| {
			let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
			format!("{target}/pricing-simulation.csv")
		});
		if let Some(dir) = std::path::Path::new(&path).parent() {
			let _ = std::fs::create_dir_all(dir);
		}
		std::fs::write(&path, rows.join("\n") + "\n").expect("the CSV is written");
	});
}
