use super::*;
use crate::mock::*;
use frame_support::assert_ok;
use sp_keyring::Sr25519Keyring::Bob;

#[test]
fn an_open_model_needs_only_credit() {
	run_test(|| {
		register_provider(&alice());
		let model = register_model(&alice(), AccessRule::Open);
		// 100 input + 100 output tokens = 600.
		let report = InferenceCredits::can_access(&bob(), model, 100, 100);
		assert!(!report.allowed);
		assert_eq!(report.estimated_cost, Some(600));
		assert_eq!(
			report.denied,
			Some(AccessDenied::NotEnoughCredit { required: 600, available: 0 })
		);
		deposit(&bob(), 600);
		let report = InferenceCredits::can_access(&bob(), model, 100, 100);
		assert!(report.allowed);
		assert_eq!(report.denied, None);
		assert_eq!(report.available_credit, 600);
	});
}

#[test]
fn a_balance_gate_admits_holders_only() {
	run_test(|| {
		register_provider(&alice());
		let model = register_model(&alice(), AccessRule::MinBalance(INITIAL_BALANCE));
		deposit(&bob(), 1_000);
		// Held credits count as owned: Bob still owns INITIAL_BALANCE.
		assert!(InferenceCredits::can_access(&bob(), model, 10, 10).allowed);
		deposit(&eve(), 1_000);
		assert_ok!(<Balances as frame_support::traits::fungible::Mutate<AccountId>>::transfer(
			&eve(),
			&dave(),
			1,
			frame_support::traits::tokens::Preservation::Preserve
		));
		let report = InferenceCredits::can_access(&eve(), model, 10, 10);
		assert!(!report.allowed);
		assert_eq!(
			report.denied,
			Some(AccessDenied::BalanceBelowGate {
				required: INITIAL_BALANCE,
				held: INITIAL_BALANCE - 1
			})
		);
	});
}

#[test]
fn a_tier_gate_reads_the_tier() {
	run_test(|| {
		register_provider(&alice());
		let model = register_model(&alice(), AccessRule::MinTier(2));
		deposit(&bob(), 1_000);
		MockTiers::set(&bob(), 1);
		let report = InferenceCredits::can_access(&bob(), model, 10, 10);
		assert_eq!(report.denied, Some(AccessDenied::TierBelowGate { required: 2, tier: 1 }));
		assert_eq!(report.tier, 1);
		MockTiers::set(&bob(), 2);
		assert!(InferenceCredits::can_access(&bob(), model, 10, 10).allowed);
	});
}

#[test]
fn a_combined_gate_needs_both() {
	run_test(|| {
		register_provider(&alice());
		let model = register_model(&alice(), AccessRule::MinBalanceAndTier(1, 1));
		deposit(&bob(), 1_000);
		assert_eq!(
			InferenceCredits::can_access(&bob(), model, 10, 10).denied,
			Some(AccessDenied::TierBelowGate { required: 1, tier: 0 })
		);
		MockTiers::set(&bob(), 1);
		assert!(InferenceCredits::can_access(&bob(), model, 10, 10).allowed);
		let report = InferenceCredits::can_access(&pauper(), model, 10, 10);
		assert_eq!(report.denied, Some(AccessDenied::BalanceBelowGate { required: 1, held: 0 }));
	});
}

#[test]
fn unknown_and_retired_models_are_reported() {
	run_test(|| {
		register_provider(&alice());
		let model = register_model(&alice(), AccessRule::Open);
		assert_eq!(
			InferenceCredits::can_access(&bob(), 42, 1, 1).denied,
			Some(AccessDenied::UnknownModel)
		);
		assert_eq!(InferenceCredits::quote(42, 1, 1), None);
		assert_eq!(
			InferenceCredits::quote(model, 1_000, 1_000),
			Some(Quote {
				cost: 6_000,
				pending: None,
				price_per_1k_input: 2_000,
				price_per_1k_output: 4_000,
				dynamic: None
			})
		);
		assert_ok!(InferenceCredits::retire_model(RuntimeOrigin::signed(alice()), model));
		assert_eq!(
			InferenceCredits::can_access(&bob(), model, 1, 1).denied,
			Some(AccessDenied::ModelRetired)
		);
		assert_eq!(InferenceCredits::quote(model, 1, 1), None);
	});
}

#[test]
fn voucher_headroom_follows_settlement() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		assert_eq!(InferenceCredits::can_access(&bob(), model, 1, 1).voucher_headroom, 0);
		InferenceCredits::do_settle(
			&alice(),
			vec![entry(Bob, model, 100, 0, voucher(Bob, &alice(), 1_000))],
		)
		.unwrap();
		let report = InferenceCredits::can_access(&bob(), model, 1, 1);
		assert_eq!(report.voucher_headroom, 800);
		assert_eq!(report.available_credit, 9_800);
	});
}

#[test]
fn the_free_allowance_counts_as_available() {
	run_test(|| {
		register_provider(&alice());
		let model = register_model(&alice(), AccessRule::Open);
		honour(model);
		MockAllowance::set(&bob(), 250);
		deposit(&bob(), 250);
		// 100 input + 100 output tokens cost 600; 500 is available.
		let report = InferenceCredits::can_access(&bob(), model, 100, 100);
		assert_eq!(report.free_allowance, 250);
		assert_eq!(report.available_credit, 250);
		assert_eq!(
			report.denied,
			Some(AccessDenied::NotEnoughCredit { required: 600, available: 500 })
		);
		MockAllowance::set(&bob(), 350);
		assert!(InferenceCredits::can_access(&bob(), model, 100, 100).allowed);
		// A model whose provider does not honour allowances counts credits only.
		let other = register_model(&alice(), AccessRule::Open);
		let report = InferenceCredits::can_access(&bob(), other, 100, 100);
		assert_eq!(report.free_allowance, 0);
		assert!(!report.allowed);
	});
}
