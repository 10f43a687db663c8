use super::*;
use crate::mock::*;
use frame_support::{assert_noop, assert_ok};
use sp_keyring::Sr25519Keyring::{Bob, Charlie, Dave};
use sp_runtime::Perbill;

#[test]
fn settlement_pays_the_provider_and_the_pool() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		let provider_free = free(&alice());
		let pool_free = free(&RewardPool::get());
		let total = issuance();
		// 100 input + 50 output tokens = 200 + 200 = 400.
		let summary = InferenceCredits::do_settle(
			&alice(),
			vec![entry(Bob, model, 100, 50, voucher(Bob, &alice(), 1_000))],
		)
		.unwrap();
		assert_eq!(
			summary,
			SettlementSummary {
				charged: 400,
				from_allowance: 0,
				fees: 40,
				rejected_entries: 0,
				signature_checks: 1,
				// Bob pays with his own credits (no delegation) and gave no withdrawal notice.
				reads_avoided: 1,
				writes_avoided: 2,
			}
		);
		assert_eq!(InferenceCredits::credit_balance(&bob()), 9_600);
		assert_eq!(held(HoldReason::Credits, &bob()), 9_600);
		assert_eq!(free(&alice()), provider_free + 360);
		assert_eq!(free(&RewardPool::get()), pool_free + 40);
		assert_eq!(issuance(), total, "settlement must not mint or burn");
		let ledger = VoucherLedgers::<Test>::get(bob(), alice());
		assert_eq!((ledger.settled, ledger.cap), (400, 1_000));
		System::assert_last_event(
			Event::UsageSettled {
				provider: alice(),
				user: bob(),
				payer: bob(),
				charged: 400,
				from_allowance: 0,
				fee: 40,
				to_treasury: 0,
				settled_total: 400,
				cap: 1_000,
			}
			.into(),
		);
	});
}

#[test]
fn cost_rounds_up_and_saturates() {
	run_test(|| {
		assert_eq!(InferenceCredits::cost_of(1, 1, 1, 0), 1);
		assert_eq!(InferenceCredits::cost_of(1_000, 0, 1, 0), 1);
		assert_eq!(InferenceCredits::cost_of(1_500, 0, 1, 0), 2);
		assert_eq!(InferenceCredits::cost_of(2_000, 4_000, 100, 50), 400);
		assert_eq!(InferenceCredits::cost_of(0, 0, u32::MAX, u32::MAX), 0);
		// Saturated at the maximum, then divided and rounded up.
		assert_eq!(
			InferenceCredits::cost_of(Balance::MAX, Balance::MAX, u32::MAX, 1),
			Balance::MAX / 1_000 + 1
		);
	});
}

#[test]
fn several_entries_of_a_user_use_only_the_newest_voucher() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		let summary = InferenceCredits::do_settle(
			&alice(),
			vec![
				entry(Bob, model, 100, 0, voucher(Bob, &alice(), 300)),
				entry(Bob, model, 100, 0, voucher(Bob, &alice(), 1_000)),
				entry(Bob, model, 100, 0, voucher(Bob, &alice(), 500)),
			],
		)
		.unwrap();
		assert_eq!(summary.charged, 600);
		assert_eq!(VoucherLedgers::<Test>::get(bob(), alice()).cap, 1_000);
	});
}

#[test]
fn a_forged_newest_voucher_rejects_all_of_that_users_entries() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		deposit(&charlie(), 10_000);
		// Charlie signs a voucher that claims to be Bob's, with a higher cap.
		let mut forged = voucher(Bob, &alice(), 9_000);
		forged.signature = sign_voucher(Charlie, &forged.voucher);
		let summary = InferenceCredits::do_settle(
			&alice(),
			vec![
				entry(Bob, model, 100, 0, voucher(Bob, &alice(), 1_000)),
				entry(Bob, model, 100, 0, forged),
				entry(Charlie, model, 100, 0, voucher(Charlie, &alice(), 1_000)),
			],
		)
		.unwrap();
		assert_eq!((summary.charged, summary.rejected_entries), (200, 2));
		assert_eq!(InferenceCredits::credit_balance(&bob()), 10_000);
		assert_eq!(InferenceCredits::credit_balance(&charlie()), 9_800);
		assert!(events().contains(&Event::UsageRejected {
			provider: alice(),
			user: bob(),
			entries: 2,
			reason: RejectReason::BadSignature,
		}));
	});
}

#[test]
fn a_replayed_voucher_gains_nothing() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		let v = voucher(Bob, &alice(), 500);
		assert_eq!(
			InferenceCredits::do_settle(&alice(), vec![entry(Bob, model, 200, 0, v.clone())])
				.unwrap()
				.charged,
			400
		);
		// The same voucher again: only the 100 of headroom left can be charged, once.
		assert_eq!(
			InferenceCredits::do_settle(&alice(), vec![entry(Bob, model, 200, 0, v.clone())])
				.unwrap()
				.charged,
			100
		);
		assert_eq!(
			InferenceCredits::do_settle(&alice(), vec![entry(Bob, model, 200, 0, v)])
				.unwrap()
				.charged,
			0
		);
		assert_eq!(InferenceCredits::credit_balance(&bob()), 9_500);
		assert_eq!(VoucherLedgers::<Test>::get(bob(), alice()).settled, 500);
	});
}

#[test]
fn a_stale_voucher_after_a_newer_one_gains_nothing() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		let old = voucher(Bob, &alice(), 400);
		let new = voucher(Bob, &alice(), 1_000);
		assert_eq!(
			InferenceCredits::do_settle(&alice(), vec![entry(Bob, model, 300, 0, new)])
				.unwrap()
				.charged,
			600
		);
		assert_eq!(
			InferenceCredits::do_settle(&alice(), vec![entry(Bob, model, 100, 0, old)])
				.unwrap()
				.charged,
			0
		);
		let ledger = VoucherLedgers::<Test>::get(bob(), alice());
		assert_eq!((ledger.settled, ledger.cap), (600, 1_000));
	});
}

#[test]
fn usage_above_the_cap_is_charged_only_up_to_the_cap() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		let summary = InferenceCredits::do_settle(
			&alice(),
			vec![entry(Bob, model, 1_000, 0, voucher(Bob, &alice(), 700))],
		)
		.unwrap();
		assert_eq!(summary.charged, 700);
		assert!(events().contains(&Event::UsageAboveCap {
			provider: alice(),
			user: bob(),
			cost: 2_000,
			headroom: 700,
		}));
	});
}

#[test]
fn vouchers_for_another_provider_chain_or_time_settle_nothing() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		register_provider(&dave());
		let for_dave = voucher(Bob, &dave(), 1_000);
		let mut other_chain = voucher(Bob, &alice(), 1_000);
		other_chain.voucher.genesis_hash = [1u8; 32].into();
		other_chain.signature = sign_voucher(Bob, &other_chain.voucher);
		let mut expired = voucher(Bob, &alice(), 1_000);
		expired.voucher.expiry = 0;
		expired.signature = sign_voucher(Bob, &expired.voucher);
		for (v, reason) in [
			(for_dave, RejectReason::WrongProvider),
			(other_chain, RejectReason::WrongChain),
			(expired, RejectReason::VoucherExpired),
		] {
			System::reset_events();
			let summary =
				InferenceCredits::do_settle(&alice(), vec![entry(Bob, model, 100, 0, v)]).unwrap();
			assert_eq!((summary.charged, summary.rejected_entries), (0, 1));
			assert_eq!(
				events(),
				vec![Event::UsageRejected { provider: alice(), user: bob(), entries: 1, reason }]
			);
		}
		assert_eq!(InferenceCredits::credit_balance(&bob()), 10_000);
		assert_eq!(VoucherLedgers::<Test>::get(bob(), alice()), VoucherLedger::default());
	});
}

#[test]
fn settling_against_no_credit_pays_what_is_there() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		// Dave never deposited: nothing is charged, the shortfall is reported.
		let summary = InferenceCredits::do_settle(
			&alice(),
			vec![entry(Dave, model, 100, 0, voucher(Dave, &alice(), 1_000))],
		)
		.unwrap();
		assert_eq!(summary.charged, 0);
		assert!(events().contains(&Event::SettlementShortfall {
			provider: alice(),
			user: dave(),
			payer: dave(),
			owed: 200,
			paid: 0,
		}));
		assert_eq!(VoucherLedgers::<Test>::get(dave(), alice()), VoucherLedger::default());
		// Charlie has 150 of the 200 owed.
		deposit(&charlie(), 150);
		let summary = InferenceCredits::do_settle(
			&alice(),
			vec![entry(Charlie, model, 100, 0, voucher(Charlie, &alice(), 1_000))],
		)
		.unwrap();
		assert_eq!(summary.charged, 150);
		assert!(!crate::Credits::<Test>::contains_key(charlie()));
		assert!(events().contains(&Event::SettlementShortfall {
			provider: alice(),
			user: charlie(),
			payer: charlie(),
			owed: 200,
			paid: 150,
		}));
	});
}

#[test]
fn entries_for_bad_models_are_rejected_and_the_rest_settles() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		register_provider(&dave());
		let daves_model = register_model(&dave(), AccessRule::Open);
		let retired = register_model(&alice(), AccessRule::Open);
		assert_ok!(InferenceCredits::retire_model(RuntimeOrigin::signed(alice()), retired));
		let v = voucher(Bob, &alice(), 5_000);
		let summary = InferenceCredits::do_settle(
			&alice(),
			vec![
				entry(Bob, 99, 100, 0, v.clone()),
				entry(Bob, daves_model, 100, 0, v.clone()),
				entry(Bob, retired, 100, 0, v.clone()),
				entry(Bob, model, 100, 0, v),
			],
		)
		.unwrap();
		assert_eq!((summary.charged, summary.rejected_entries), (200, 3));
		for reason in [
			RejectReason::UnknownModel,
			RejectReason::ModelOfAnotherProvider,
			RejectReason::ModelRetired,
		] {
			assert!(events().contains(&Event::UsageRejected {
				provider: alice(),
				user: bob(),
				entries: 1,
				reason
			}));
		}
	});
}

#[test]
fn settlement_by_an_unregistered_provider_fails_and_changes_nothing() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		assert_noop!(
			InferenceCredits::do_settle(
				&dave(),
				vec![entry(Bob, model, 100, 0, voucher(Bob, &dave(), 1_000))]
			),
			Error::<Test>::NotProvider
		);
	});
}

/// Empties `who` (holding just the existential deposit) so that it no longer exists.
fn remove_account(who: &AccountId) {
	assert_ok!(<Balances as frame_support::traits::fungible::Mutate<AccountId>>::transfer(
		who,
		&eve(),
		ED,
		frame_support::traits::tokens::Preservation::Expendable
	));
}

#[test]
fn a_fee_too_small_for_a_missing_pool_goes_to_the_provider() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		// Empty the pool so that it no longer exists.
		remove_account(&RewardPool::get());
		let provider_free = free(&alice());
		// 5 tokens cost 10; the fee of 1 is below the existential deposit.
		let summary = InferenceCredits::do_settle(
			&alice(),
			vec![entry(Bob, model, 5, 0, voucher(Bob, &alice(), 1_000))],
		)
		.unwrap();
		assert_eq!((summary.charged, summary.fees), (10, 0));
		assert_eq!(free(&alice()), provider_free + 10);
	});
}

#[test]
fn the_treasury_takes_its_share_of_the_fee_and_the_pool_the_rest() {
	run_test(|| {
		TreasuryShare::set(Perbill::from_percent(25));
		let model = open_model_and_funded_bob();
		let (provider_free, pool_free, treasury_free) =
			(free(&alice()), free(&RewardPool::get()), free(&TreasuryAccount::get()));
		let total = issuance();
		// 400 charged, a fee of 40: 10 to the treasury, 30 to the pool.
		let summary = InferenceCredits::do_settle(
			&alice(),
			vec![entry(Bob, model, 100, 50, voucher(Bob, &alice(), 1_000))],
		)
		.unwrap();
		assert_eq!((summary.charged, summary.fees), (400, 40));
		assert_eq!(free(&alice()), provider_free + 360);
		assert_eq!(free(&RewardPool::get()), pool_free + 30);
		assert_eq!(free(&TreasuryAccount::get()), treasury_free + 10);
		assert_eq!(issuance(), total, "settlement must not mint or burn");
		System::assert_last_event(
			Event::UsageSettled {
				provider: alice(),
				user: bob(),
				payer: bob(),
				charged: 400,
				from_allowance: 0,
				fee: 40,
				to_treasury: 10,
				settled_total: 400,
				cap: 1_000,
			}
			.into(),
		);
	});
}

#[test]
fn a_share_too_small_for_a_missing_treasury_goes_to_the_pool() {
	run_test(|| {
		TreasuryShare::set(Perbill::from_percent(50));
		let model = open_model_and_funded_bob();
		remove_account(&TreasuryAccount::get());
		let (provider_free, pool_free) = (free(&alice()), free(&RewardPool::get()));
		// 20 tokens cost 40, a fee of 4: the treasury's 2 is below the existential deposit.
		let summary = InferenceCredits::do_settle(
			&alice(),
			vec![entry(Bob, model, 20, 0, voucher(Bob, &alice(), 1_000))],
		)
		.unwrap();
		assert_eq!((summary.charged, summary.fees), (40, 4));
		assert_eq!(free(&alice()), provider_free + 36);
		assert_eq!(free(&RewardPool::get()), pool_free + 4);
		assert_eq!(free(&TreasuryAccount::get()), 0);
	});
}

/// The voucher signed in JavaScript with `@tokenmeter/client` (`client/`, as in
/// `docs/pallets/inference-credits.md`: by `//Bob` for provider `//Alice`, paid by Bob, cap
/// 1,000,000, expiry block 100, on the mock chain whose genesis hash is `0x4545…45`) is
/// accepted as is, signed bare and signed in the `<Bytes>…</Bytes>` wrapping that
/// `@polkadot/util`'s `u8aWrapBytes` (and so the Polkadot.js extension's `signRaw`) makes:
/// the payloads agree byte for byte.
#[test]
fn a_voucher_signed_with_polkadot_js_settles() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		let voucher = js_voucher(None);
		let js_payload = hex_literal(
			"746f6b656e6d657465722f766f75636865722f7631\
			 4545454545454545454545454545454545454545454545454545454545454545\
			 d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d\
			 8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48\
			 8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48\
			 40420f00000000000000000000000000\
			 64000000",
		);
		assert_eq!(voucher.signing_payload(), js_payload);
		let bare = hex_literal(
			"0041a93d1c32f2f456c9b57fb515656285a3e3452a7331e02a0b2e0dba9fb72b\
			 ebd3b0a95b292b08b33e68050f1c448dfedb3731b42fb207383083dd9ea4e28e",
		);
		let wrapped = hex_literal(
			"f649f1740134f3cf63ec572577fef2b5406c36497df8d35b942169d8cb895f25\
			 cdb13e272220dae80772c26dbcf50a51cbda02089b8b772f461ecf88b03b5a82",
		);
		settles_js_signatures(model, &voucher, bare, wrapped);
	});
}

/// The same with a session (a v2 voucher, as `@tokenmeter/client` signs it now: session
/// commitment `0x0101…01`): the payload under the v2 domain ends with the session, and both
/// the bare and the wrapped JS signatures settle.
#[test]
fn a_v2_voucher_signed_with_polkadot_js_settles() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		let voucher = js_voucher(Some([1; 32]));
		let js_payload = hex_literal(
			"746f6b656e6d657465722f766f75636865722f7632\
			 4545454545454545454545454545454545454545454545454545454545454545\
			 d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d\
			 8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48\
			 8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48\
			 40420f00000000000000000000000000\
			 64000000\
			 0101010101010101010101010101010101010101010101010101010101010101",
		);
		assert_eq!(voucher.signing_payload(), js_payload);
		let bare = hex_literal(
			"c05d3b841d13069889e1ac137e55c6cf7828e7df743fdac0cb792761c8fe551a\
			 0cb4d5d4540ff1397a18fea3aa316a8b61e53c185e63f9759a23fdf9c2ef6b87",
		);
		let wrapped = hex_literal(
			"dc05168dfafe29fe4833230f001157f0520406853f5fa985ad6bf53fad3eb715\
			 ba6ec149f2dd0b0900536c01d93d3425981fc4310918ab17e4794d2d7940be8d",
		);
		settles_js_signatures(model, &voucher, bare, wrapped);
	});
}

/// The voucher the JS cross-checks sign: `//Bob` for `//Alice`, paid by Bob, cap 1,000,000,
/// expiry block 100, on the mock chain, with `session`.
fn js_voucher(session: Option<[u8; 32]>) -> VoucherOf<Test> {
	Voucher {
		genesis_hash: genesis_hash(),
		provider: alice(),
		user: bob(),
		payer: bob(),
		cap: 1_000_000,
		expiry: 100,
		session,
	}
}

/// Bob's `voucher` with `bare` and then `wrapped` (JS signatures of its payload, plain and in
/// `<Bytes>…</Bytes>`) settles 100 and then 200 input tokens of `model`.
fn settles_js_signatures(
	model: ModelId,
	voucher: &VoucherOf<Test>,
	bare: Vec<u8>,
	wrapped: Vec<u8>,
) {
	for (js_signature, tokens) in [(bare, 100), (wrapped, 200)] {
		let signature = sp_runtime::MultiSignature::Sr25519(sp_core::sr25519::Signature::from_raw(
			js_signature.try_into().unwrap(),
		));
		let signed = SignedVoucher { voucher: voucher.clone(), signature };
		let summary =
			InferenceCredits::do_settle(&alice(), vec![entry(Bob, model, tokens, 0, signed)])
				.unwrap();
		assert_eq!((summary.charged, summary.rejected_entries), (2 * tokens as u128, 0));
	}
}

fn hex_literal(s: &str) -> Vec<u8> {
	let s: String = s.split_whitespace().collect();
	(0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn a_keyless_account_spends_with_vouchers_its_signer_signs() {
	run_test(|| {
		let model = open_model_and_funded_bob();
		// Bob's vouchers are signed by Charlie (as an agent's are by its controller).
		MockSigners::set(&bob(), Some(charlie()));
		let mut by_charlie = voucher(Bob, &alice(), 1_000);
		by_charlie.signature = sign_voucher(Charlie, &by_charlie.voucher);
		// Bob's own signature is no longer enough.
		let summary = InferenceCredits::do_settle(
			&alice(),
			vec![entry(Bob, model, 100, 0, voucher(Bob, &alice(), 1_000))],
		)
		.unwrap();
		assert_eq!((summary.charged, summary.rejected_entries), (0, 1));
		assert_eq!(InferenceCredits::credit_balance(&bob()), 10_000);
		assert!(events().contains(&Event::UsageRejected {
			provider: alice(),
			user: bob(),
			entries: 1,
			reason: RejectReason::BadSignature,
		}));
		let summary = InferenceCredits::do_settle(
			&alice(),
			vec![entry(Bob, model, 100, 0, by_charlie.clone())],
		)
		.unwrap();
		assert_eq!((summary.charged, summary.rejected_entries), (200, 0));
		assert_eq!(InferenceCredits::credit_balance(&bob()), 9_800);
		// Once nobody may sign for Bob (a frozen agent), even the signer's voucher settles
		// nothing.
		MockSigners::set(&bob(), None);
		let mut higher = voucher(Bob, &alice(), 2_000);
		higher.signature = sign_voucher(Charlie, &higher.voucher);
		let summary =
			InferenceCredits::do_settle(&alice(), vec![entry(Bob, model, 100, 0, higher)]).unwrap();
		assert_eq!((summary.charged, summary.rejected_entries), (0, 1));
		assert_eq!(InferenceCredits::credit_balance(&bob()), 9_800);
		assert!(events().contains(&Event::UsageRejected {
			provider: alice(),
			user: bob(),
			entries: 1,
			reason: RejectReason::SignerNotAllowed,
		}));
	});
}
