//! Congestion pricing: the multiplier follows utilisation one bounded step per epoch, within
//! the provider's bounds, and settlement, quotes and `can_access` charge the multiplied price.

use super::*;
use crate::mock::*;
use frame_support::{assert_noop, assert_ok};
use sp_keyring::Sr25519Keyring::Bob;
use sp_runtime::{
	traits::{One, Saturating, Zero},
	FixedU128, Perbill,
};

/// 1,000 tokens an epoch, 50% target, multiplier within [0.5, 2].
fn config() -> PricingConfig {
	PricingConfig {
		capacity: 1_000,
		target: Perbill::from_percent(50),
		min_multiplier: FixedU128::from_rational(1, 2),
		max_multiplier: FixedU128::from_u32(2),
	}
}

fn set(model: ModelId, config: Option<PricingConfig>) -> sp_runtime::DispatchResult {
	InferenceCredits::set_dynamic_pricing(RuntimeOrigin::signed(alice()), model, config)
}

/// The first block of pricing epoch `epoch`.
fn to_epoch(epoch: u32) {
	System::set_block_number(epoch * PRICING_EPOCH);
}

/// Settles `tokens` input tokens of Bob's on `model` (a voucher large enough for anything).
fn serve(model: ModelId, tokens: u32) -> Balance {
	InferenceCredits::do_settle(
		&alice(),
		vec![entry(Bob, model, tokens, 0, voucher(Bob, &alice(), Balance::MAX / 2))],
	)
	.unwrap()
	.charged
}

fn multiplier(model: ModelId) -> FixedU128 {
	InferenceCredits::quote(model, 0, 0).unwrap().dynamic.unwrap().multiplier
}

fn one_step_up(m: FixedU128) -> FixedU128 {
	m.saturating_mul(FixedU128::from_rational(9, 8))
}

#[test]
fn only_the_provider_sets_valid_bounds_and_pays_a_deposit() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		let held_before = held(HoldReason::ModelDeposit, &alice());
		assert_noop!(
			InferenceCredits::set_dynamic_pricing(
				RuntimeOrigin::signed(bob()),
				model,
				Some(config())
			),
			Error::<Test>::NotModelProvider
		);
		let bad = [
			PricingConfig { capacity: 0, ..config() },
			PricingConfig { target: Perbill::zero(), ..config() },
			PricingConfig { target: Perbill::one(), ..config() },
			PricingConfig { min_multiplier: FixedU128::zero(), ..config() },
			PricingConfig { min_multiplier: FixedU128::from_rational(3, 2), ..config() },
			PricingConfig { max_multiplier: FixedU128::from_rational(1, 2), ..config() },
			PricingConfig { max_multiplier: FixedU128::from_u32(11), ..config() },
		];
		for config in bad {
			assert_noop!(set(model, Some(config)), Error::<Test>::InvalidPricing);
		}
		assert_noop!(set(model, None), Error::<Test>::NotDynamicallyPriced);
		assert_noop!(set(99, Some(config())), Error::<Test>::UnknownModel);

		assert_ok!(set(model, Some(config())));
		assert!(held(HoldReason::ModelDeposit, &alice()) > held_before);
		System::assert_last_event(
			Event::DynamicPricingSet {
				model,
				config: Some(config()),
				multiplier: FixedU128::one(),
				effective_from: 1,
			}
			.into(),
		);
		assert_eq!(multiplier(model), FixedU128::one());
	});
}

#[test]
fn the_multiplier_rises_under_sustained_demand_one_step_per_epoch_up_to_its_maximum() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		deposit(&bob(), 900_000);
		assert_ok!(set(model, Some(config())));
		let mut expected = FixedU128::one();
		for epoch in 0..10u32 {
			to_epoch(epoch);
			assert_eq!(multiplier(model), expected, "epoch {epoch}");
			// The whole capacity, in three settlements: the multiplier moves once.
			serve(model, 400);
			serve(model, 400);
			serve(model, 200);
			assert_eq!(multiplier(model), expected, "no move within an epoch");
			expected = one_step_up(expected).min(FixedU128::from_u32(2));
		}
		// 1.125^6 > 2: the maximum was reached and held.
		assert_eq!(multiplier(model), FixedU128::from_u32(2));
		assert!(events().iter().any(|e| matches!(
			e,
			Event::PriceMultiplierChanged { model: m, epoch: 1, utilisation, .. }
				if *m == model && *utilisation == FixedU128::one()
		)));
	});
}

#[test]
fn the_multiplier_falls_when_idle_down_to_its_minimum_and_never_more_than_a_step() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		assert_ok!(set(model, Some(config())));
		// No usage at all: each idle epoch is one step down, 12.5%.
		to_epoch(1);
		assert_eq!(multiplier(model), FixedU128::from_rational(7, 8));
		to_epoch(3);
		assert_eq!(multiplier(model), FixedU128::from_rational(343, 512));
		// Long idle: the minimum, not below.
		to_epoch(100);
		assert_eq!(multiplier(model), FixedU128::from_rational(1, 2));
		// At the target: no move.
		serve(model, 500);
		to_epoch(101);
		assert_eq!(multiplier(model), FixedU128::from_rational(1, 2));
	});
}

#[test]
fn the_multiplier_never_leaves_its_bounds_nor_moves_more_than_one_step() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		deposit(&bob(), 900_000);
		assert_ok!(set(model, Some(config())));
		let step = FixedU128::from_rational(1, 8);
		let mut previous = FixedU128::one();
		// A pseudo-random demand: bursts, idle epochs, partial use.
		let mut seed = 7u64;
		for epoch in 1..150u32 {
			seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
			let tokens = match (seed >> 33) % 4 {
				0 => 0,
				1 => 1_500,
				_ => ((seed >> 40) % 1_000) as u32,
			};
			if tokens > 0 {
				serve(model, tokens);
			}
			to_epoch(epoch);
			let now = multiplier(model);
			assert!(now >= config().min_multiplier && now <= config().max_multiplier);
			// Within a step, give or take the last digit of fixed-point rounding.
			let rounding = FixedU128::from_inner(10);
			let (low, high) = (
				previous.saturating_sub(previous.saturating_mul(step)).saturating_sub(rounding),
				previous.saturating_add(previous.saturating_mul(step)).saturating_add(rounding),
			);
			assert!(now >= low && now <= high, "epoch {epoch}: {previous:?} -> {now:?}");
			previous = now;
		}
	});
}

#[test]
fn settlement_quotes_and_access_use_the_multiplied_price() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		deposit(&bob(), 900_000);
		assert_ok!(set(model, Some(config())));
		serve(model, 1_000);
		to_epoch(1);
		// ×1.125: 2,250 per 1k input, 4,500 per 1k output. 100 in + 50 out = 225 + 225.
		let quote = InferenceCredits::quote(model, 100, 50).unwrap();
		assert_eq!((quote.price_per_1k_input, quote.price_per_1k_output), (2_250, 4_500));
		assert_eq!(quote.cost, 450);
		let dynamic = quote.dynamic.unwrap();
		assert_eq!(dynamic.multiplier, FixedU128::from_rational(9, 8));
		assert_eq!(dynamic.next_epoch_from, 2 * PRICING_EPOCH);
		// Next epoch: one step down (×0.984375: 1,968 / 3,937) to one step up (×1.265625:
		// 2,531 / 5,062), known in advance.
		assert_eq!((dynamic.next_min_cost, dynamic.next_max_cost), (394, 507));
		assert_eq!(InferenceCredits::can_access(&bob(), model, 100, 50).estimated_cost, Some(450));
		let charged = InferenceCredits::do_settle(
			&alice(),
			vec![entry(Bob, model, 100, 50, voucher(Bob, &alice(), Balance::MAX / 2))],
		)
		.unwrap()
		.charged;
		assert_eq!(charged, 450);
		assert_eq!(DynamicPrices::<Test>::get(model).unwrap().tokens, 150);
	});
}

#[test]
fn a_gateway_sees_the_prices_the_chain_settles_at() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		to_epoch(1);
		let views = InferenceCredits::provider_models(&alice());
		assert_eq!(views.len(), 1);
		let static_view = views[0].clone();
		assert_eq!(
			(static_view.id, static_view.prices, static_view.listed, static_view.dynamic),
			(model, (2_000, 4_000), (2_000, 4_000), None)
		);
		assert_ok!(set(model, Some(config())));
		serve(model, 1_000);
		to_epoch(2);
		let view = InferenceCredits::provider_models(&alice()).remove(0);
		// ×1.125 now; the next epoch between one step down and one step up, per 1k tokens.
		assert_eq!((view.prices, view.listed), ((2_250, 4_500), (2_000, 4_000)));
		let dynamic = view.dynamic.unwrap();
		assert_eq!(tokenmeter_primitives::gateway::decimal(dynamic.multiplier), "1.125");
		let quote_in = InferenceCredits::quote(model, 1000, 0).unwrap().dynamic.unwrap();
		let quote_out = InferenceCredits::quote(model, 0, 1000).unwrap().dynamic.unwrap();
		assert_eq!(dynamic.next_min, (quote_in.next_min_cost, quote_out.next_min_cost));
		assert_eq!(dynamic.next_max, (quote_in.next_max_cost, quote_out.next_max_cost));
		assert_eq!(dynamic.next_epoch_from, 3 * PRICING_EPOCH);
		// A retired model is not served; another provider has none.
		assert_ok!(InferenceCredits::retire_model(RuntimeOrigin::signed(alice()), model));
		assert!(InferenceCredits::provider_models(&alice()).is_empty());
		assert!(InferenceCredits::provider_models(&bob()).is_empty());
	});
}

#[test]
fn a_static_model_is_priced_as_before() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		to_epoch(5);
		let quote = InferenceCredits::quote(model, 100, 50).unwrap();
		assert_eq!((quote.cost, quote.dynamic), (400, None));
		assert_eq!((quote.price_per_1k_input, quote.price_per_1k_output), (2_000, 4_000));
		assert_eq!(serve(model, 1_000), 2_000);
		assert!(DynamicPrices::<Test>::get(model).is_none());
	});
}

#[test]
fn opting_out_lowers_the_price_at_once_and_raises_it_only_after_notice() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		deposit(&bob(), 900_000);
		let held_before = held(HoldReason::ModelDeposit, &alice());
		// Above one: out at once, deposit back.
		assert_ok!(set(model, Some(config())));
		serve(model, 1_000);
		to_epoch(1);
		assert_ok!(set(model, None));
		assert!(DynamicPrices::<Test>::get(model).is_none());
		assert_eq!(held(HoldReason::ModelDeposit, &alice()), held_before);
		assert_eq!(InferenceCredits::quote(model, 1_000, 0).unwrap().cost, 2_000);
		// Below one: the discount stays for the notice, then the listed price.
		assert_ok!(set(model, Some(config())));
		to_epoch(3);
		let discounted = InferenceCredits::quote(model, 1_000, 0).unwrap().cost;
		assert!(discounted < 2_000);
		assert_ok!(set(model, None));
		let until = 3 * PRICING_EPOCH + PRICE_NOTICE;
		System::assert_last_event(
			Event::DynamicPricingSet {
				model,
				config: None,
				multiplier: FixedU128::from_rational(49, 64),
				effective_from: until,
			}
			.into(),
		);
		System::set_block_number(until - 1);
		assert!(InferenceCredits::quote(model, 1_000, 0).unwrap().cost < 2_000);
		System::set_block_number(until);
		assert_eq!(InferenceCredits::quote(model, 1_000, 0).unwrap().cost, 2_000);
		// The next use removes the record and releases the deposit.
		assert_eq!(serve(model, 1_000), 2_000);
		assert!(DynamicPrices::<Test>::get(model).is_none());
		assert_eq!(held(HoldReason::ModelDeposit, &alice()), held_before);
	});
}

#[test]
fn new_bounds_apply_down_at_once_and_up_one_step_per_epoch() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		deposit(&bob(), 900_000);
		assert_ok!(set(model, Some(config())));
		for epoch in 0..6 {
			to_epoch(epoch);
			serve(model, 1_000);
		}
		to_epoch(6);
		assert_eq!(multiplier(model), FixedU128::from_u32(2));
		// A lower maximum: at once.
		let lower = PricingConfig { max_multiplier: FixedU128::from_rational(3, 2), ..config() };
		assert_ok!(set(model, Some(lower)));
		assert_eq!(multiplier(model), FixedU128::from_rational(3, 2));
		// Idle to the minimum, then a higher minimum: reached one step per epoch.
		to_epoch(40);
		assert_eq!(multiplier(model), FixedU128::from_rational(1, 2));
		let floor = PricingConfig { min_multiplier: FixedU128::one(), ..lower };
		assert_ok!(set(model, Some(floor)));
		assert_eq!(multiplier(model), FixedU128::from_rational(1, 2));
		to_epoch(41);
		assert_eq!(multiplier(model), FixedU128::from_rational(9, 16));
		to_epoch(60);
		assert_eq!(multiplier(model), FixedU128::one());
	});
}

#[test]
fn retiring_a_model_drops_its_dynamic_price_and_deposit() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		let held_before = held(HoldReason::ModelDeposit, &alice());
		assert_ok!(set(model, Some(config())));
		assert_ok!(InferenceCredits::retire_model(RuntimeOrigin::signed(alice()), model));
		assert!(DynamicPrices::<Test>::get(model).is_none());
		assert_eq!(held(HoldReason::ModelDeposit, &alice()), held_before);
	});
}

/// Issue 28 §5: Bob's usage of `model` (1,000 input tokens) served at `served_at`, settled
/// now; what it was charged.
fn settle_served_at(model: ModelId, served_at: u64) -> SettlementSummary<Balance> {
	let mut usage = entry(Bob, model, 1_000, 0, voucher(Bob, &alice(), Balance::MAX / 2));
	usage.served_at = served_at as u32;
	InferenceCredits::do_settle(&alice(), vec![usage]).unwrap()
}

fn raise_to(model: ModelId, price_in: Balance) {
	assert_ok!(InferenceCredits::update_model(
		RuntimeOrigin::signed(alice()),
		model,
		price_in,
		4_000,
		AccessRule::Open
	));
}

/// Settlement used to price usage at the block it was attested in: a provider announced a
/// rise, kept serving at the old price and attested after it took effect. Usage is now
/// priced at what was in force when it was served, never above the price now.
#[test]
fn usage_is_priced_when_served_not_when_attested() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		deposit(&bob(), 900_000);
		// 2 per input token now; 6 from block 1 + PRICE_NOTICE.
		raise_to(model, 6_000);
		let effective = 1 + PRICE_NOTICE;
		System::set_block_number(effective + 2);
		// Served before the rise, attested after it: the old price.
		assert_eq!(settle_served_at(model, u64::from(effective) - 1).charged, 2_000);
		// Served after it: the new one.
		assert_eq!(settle_served_at(model, u64::from(effective)).charged, 6_000);
		// A record claiming a block still to come is priced as served now.
		assert_eq!(settle_served_at(model, 1_000_000).charged, 6_000);
		// A decrease applies at once, to usage served before it too.
		raise_to(model, 1_000);
		assert_eq!(settle_served_at(model, u64::from(effective)).charged, 1_000);
	});
}

/// A provider cannot launder the old price away by updating again right after a rise took
/// effect: usage served before the rise and not yet attested keeps the old price.
#[test]
fn a_second_update_soon_after_a_rise_keeps_the_old_price_for_late_usage() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		deposit(&bob(), 900_000);
		raise_to(model, 6_000);
		let effective = 1 + PRICE_NOTICE;
		System::set_block_number(effective + 1);
		// Another rise, announced once the first applies.
		raise_to(model, 8_000);
		assert_eq!(settle_served_at(model, u64::from(effective) - 1).charged, 2_000);
	});
}

/// Usage served longer ago than `MaxUsageLateness` is refused, charging nothing.
#[test]
fn usage_served_too_long_ago_is_refused() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		System::set_block_number(100);
		let credits = Credits::<Test>::get(bob());
		let summary = settle_served_at(model, u64::from(100 - LATENESS) - 1);
		assert_eq!((summary.charged, summary.rejected_entries), (0, 1));
		assert!(events().contains(&Event::UsageRejected {
			provider: alice(),
			user: bob(),
			entries: 1,
			reason: RejectReason::ServedTooLongAgo
		}));
		assert_eq!(Credits::<Test>::get(bob()), credits);
		// At the bound, it settles.
		assert_eq!(settle_served_at(model, u64::from(100 - LATENESS)).charged, 2_000);
	});
}

/// Dynamic pricing counted every attested entry, settled or not: one entry of `u32::MAX`
/// tokens under a junk signature forced a price step. Only what was settled counts now: the
/// model moves exactly as a model nobody used.
#[test]
fn utilisation_counts_only_settled_usage() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		let idle = register_model(&alice(), AccessRule::Open);
		assert_ok!(set(model, Some(config())));
		assert_ok!(set(idle, Some(config())));
		to_epoch(1);
		let mut forged = voucher(Bob, &alice(), Balance::MAX / 2);
		forged.signature = sign_voucher(Sr25519Keyring::Charlie, &forged.voucher);
		let summary = InferenceCredits::do_settle(
			&alice(),
			vec![entry(Bob, model, u32::MAX, u32::MAX, forged)],
		)
		.unwrap();
		assert_eq!((summary.charged, summary.rejected_entries), (0, 1));
		to_epoch(2);
		assert_eq!(multiplier(model), multiplier(idle));
		assert!(multiplier(model) < FixedU128::one());
	});
}
