//! Agent wallets as configured in the runtime: the allowlist of agent calls, outflow through
//! real batches and credit deposits, vouchers signed by the controller and settled by the
//! credits pallet, and the kill switch stopping settlement.

mod common;

use common::{chain_from_preset, check_invariants, provide_model, run_to_block};
use frame_support::{assert_noop, assert_ok, traits::fungible::Inspect};
use pallet_agent_wallet::{Policy, PolicyOf};
use pallet_inference_credits::{AccessRule, SettleUsage, SignedVoucher, UsageEntry, Voucher};
use sp_core::{Pair, H256};
use sp_keyring::Sr25519Keyring::{Alice, Bob, Charlie, Dave};
use sp_runtime::{MultiAddress, MultiSignature};
use tokenmeter_runtime::{
	AccountId, AgentWallet, Balance, Balances, InferenceCredits, Runtime, RuntimeCall,
	RuntimeOrigin, System, UNIT,
};

/// 100 TMT per payment, 300 TMT per 100 blocks, cosigning above 50 TMT by the owner.
fn policy() -> PolicyOf<Runtime> {
	Policy {
		per_payment_cap: 100 * UNIT,
		period_cap: 300 * UNIT,
		period_length: 100,
		payees: None,
		cosign_threshold: 50 * UNIT,
		cosigners: Default::default(),
		approvals_needed: 1,
		expiry: None,
		pays_fees: false,
	}
}

/// Alice creates an agent controlled by Bob and funds it with 1,000 TMT.
fn alice_creates_agent(policy: PolicyOf<Runtime>) -> AccountId {
	let alice = Alice.to_account_id();
	let hash = H256::repeat_byte(7);
	let index = pallet_agent_wallet::NextAgentIndex::<Runtime>::get(&alice);
	let agent = AgentWallet::agent_address(&alice, &hash, index);
	assert_ok!(AgentWallet::create_agent(
		RuntimeOrigin::signed(alice.clone()),
		hash,
		policy,
		Bob.to_account_id()
	));
	assert_ok!(Balances::transfer_keep_alive(
		RuntimeOrigin::signed(alice),
		MultiAddress::Id(agent.clone()),
		1_000 * UNIT
	));
	agent
}

fn act(agent: &AccountId, call: RuntimeCall) -> Result<(), sp_runtime::DispatchError> {
	AgentWallet::act(RuntimeOrigin::signed(Bob.to_account_id()), agent.clone(), Box::new(call))
		.map(|_| ())
		.map_err(|e| e.error)
}

fn transfer(to: &AccountId, amount: Balance) -> RuntimeCall {
	RuntimeCall::Balances(pallet_balances::Call::transfer_keep_alive {
		dest: MultiAddress::Id(to.clone()),
		value: amount,
	})
}

fn deposit_credits(amount: Balance) -> RuntimeCall {
	RuntimeCall::InferenceCredits(pallet_inference_credits::Call::deposit_credits { amount })
}

#[test]
fn the_runtime_allowlist_admits_agent_business_and_refuses_the_rest() {
	chain_from_preset("development").execute_with(|| {
		let agent = alice_creates_agent(Policy {
			payees: Some(vec![Charlie.to_account_id()].try_into().unwrap()),
			..policy()
		});
		let charlie = Charlie.to_account_id();
		let dave = Dave.to_account_id();
		// Refused at the top: sudo, provider registration, transfer_all, agent-wallet calls,
		// and transfers to payees off the allowlist.
		let refused = [
			RuntimeCall::Sudo(pallet_sudo::Call::sudo { call: Box::new(transfer(&dave, UNIT)) }),
			RuntimeCall::InferenceCredits(pallet_inference_credits::Call::register_provider {
				name: b"x".to_vec().try_into().unwrap(),
				endpoint: b"x".to_vec().try_into().unwrap(),
			}),
			RuntimeCall::Balances(pallet_balances::Call::transfer_all {
				dest: MultiAddress::Id(charlie.clone()),
				keep_alive: true,
			}),
			RuntimeCall::AgentWallet(pallet_agent_wallet::Call::withdraw {
				agent: agent.clone(),
				amount: UNIT,
			}),
			transfer(&dave, UNIT),
		];
		for call in refused {
			assert_noop!(act(&agent, call), pallet_agent_wallet::Error::<Runtime>::CallNotAllowed);
		}
		// Nested in a real utility batch: filtered.
		assert_noop!(
			act(
				&agent,
				RuntimeCall::Utility(pallet_utility::Call::batch_all {
					calls: vec![transfer(&charlie, UNIT), transfer(&dave, UNIT)]
				})
			),
			frame_system::Error::<Runtime>::CallFiltered
		);
		// Admitted: a transfer to the allowed payee, a credit deposit, stake, a remark.
		assert_ok!(act(&agent, transfer(&charlie, 10 * UNIT)));
		assert_ok!(act(&agent, deposit_credits(20 * UNIT)));
		assert_ok!(act(
			&agent,
			RuntimeCall::PriorityStaking(pallet_priority_staking::Call::stake {
				amount: 100 * UNIT
			})
		));
		assert_ok!(act(
			&agent,
			RuntimeCall::System(frame_system::Call::remark { remark: b"hello".to_vec() })
		));
		// The transfer and the deposit counted; stake stays in the agent (frozen), so it
		// did not.
		let status = AgentWallet::status(&agent).unwrap();
		assert_eq!(status.spent, 30 * UNIT);
		assert_eq!(status.remaining, 270 * UNIT);
		check_invariants();
	});
}

#[test]
fn a_batch_of_transfers_counts_as_one_payment() {
	chain_from_preset("development").execute_with(|| {
		let agent = alice_creates_agent(Policy { cosign_threshold: 1_000 * UNIT, ..policy() });
		let dave = Dave.to_account_id();
		let before = Balances::balance(&dave);
		let batch = RuntimeCall::Utility(pallet_utility::Call::batch {
			calls: vec![transfer(&dave, 40 * UNIT); 3],
		});
		assert_noop!(act(&agent, batch), pallet_agent_wallet::Error::<Runtime>::PaymentCapExceeded);
		assert_eq!(Balances::balance(&dave), before);
		check_invariants();
	});
}

#[test]
fn the_controller_signs_vouchers_and_a_freeze_stops_settlement_after_a_grace() {
	chain_from_preset("development").execute_with(|| {
		let alice = Alice.to_account_id();
		let model = provide_model(&alice, UNIT, UNIT, AccessRule::Open);
		let agent = alice_creates_agent(policy());
		// The controller deposits credits as the agent: 40 TMT, counted as outflow.
		assert_ok!(act(&agent, deposit_credits(40 * UNIT)));
		assert_eq!(AgentWallet::status(&agent).unwrap().spent, 40 * UNIT);
		assert_eq!(InferenceCredits::credit_balance(&agent), 40 * UNIT);

		// A voucher for the agent, signed by the controller (Bob), as a gateway receives it.
		let voucher = Voucher {
			genesis_hash: System::block_hash(0),
			provider: alice.clone(),
			user: agent.clone(),
			payer: agent.clone(),
			cap: 30 * UNIT,
			expiry: 1_000,
			session: Some([2; 32]),
		};
		let signed = |key: sp_keyring::Sr25519Keyring| SignedVoucher {
			voucher: voucher.clone(),
			signature: MultiSignature::from(key.pair().sign(&voucher.signing_payload())),
		};
		// 10,000 input tokens at 1 TMT per 1,000.
		let entry = |signer| UsageEntry {
			user: agent.clone(),
			model,
			input_tokens: 10_000,
			output_tokens: 0,
			served_at: System::block_number(),
			voucher: signed(signer),
		};
		// Signed by someone else (Charlie): nothing settles.
		let summary =
			<InferenceCredits as SettleUsage<_>>::settle(&alice, vec![entry(Charlie)]).unwrap();
		assert_eq!((summary.charged, summary.rejected_entries), (0, 1));
		let summary =
			<InferenceCredits as SettleUsage<_>>::settle(&alice, vec![entry(Bob)]).unwrap();
		assert_eq!(summary.charged, 10 * UNIT);
		assert_eq!(InferenceCredits::credit_balance(&agent), 30 * UNIT);
		// Settling held credits is not a second outflow.
		assert_eq!(AgentWallet::status(&agent).unwrap().spent, 40 * UNIT);

		// Served, then the owner freezes the agent before the provider attests (issue 28 §4):
		// usage served before the freeze still settles for the grace (an hour), while gateways,
		// which admit with the current signer, stop at once.
		assert_ok!(AgentWallet::freeze(RuntimeOrigin::signed(alice.clone()), agent.clone()));
		assert_eq!(
			<AgentWallet as pallet_agent_wallet::VoucherSigners<_>>::voucher_signer(&agent, &alice),
			None
		);
		run_to_block(System::block_number() + 10);
		let served = UsageEntry { input_tokens: 5_000, ..entry(Bob) };
		let summary = <InferenceCredits as SettleUsage<_>>::settle(&alice, vec![served]).unwrap();
		assert_eq!((summary.charged, summary.rejected_entries), (5 * UNIT, 0));
		assert_eq!(InferenceCredits::credit_balance(&agent), 25 * UNIT);
		// Past the grace, the controller's vouchers stop settling.
		let grace = <<Runtime as pallet_agent_wallet::Config>::SettlementGrace as frame_support::traits::Get<u32>>::get();
		run_to_block(System::block_number() + grace);
		let later = UsageEntry { input_tokens: 20_000, ..entry(Bob) };
		let summary = <InferenceCredits as SettleUsage<_>>::settle(&alice, vec![later]).unwrap();
		assert_eq!((summary.charged, summary.rejected_entries), (0, 1));
		assert_eq!(InferenceCredits::credit_balance(&agent), 25 * UNIT);
		check_invariants();
	});
}

/// The fee a transaction of `who` paid, from its `TransactionFeePaid` event.
fn fee_paid_by(who: &AccountId) -> Balance {
	System::events()
		.into_iter()
		.find_map(|record| match record.event {
			tokenmeter_runtime::RuntimeEvent::TransactionPayment(
				pallet_transaction_payment::Event::TransactionFeePaid {
					who: payer,
					actual_fee,
					..
				},
			) if &payer == who => Some(actual_fee),
			_ => None,
		})
		.unwrap_or_else(|| panic!("no fee paid by {who}"))
}

/// Bob, the controller, signs `pay` transactions applied through the runtime's real
/// transaction extensions: the agent pays the fee (counted against its period cap) when its
/// policy says so, Bob otherwise; either way the fee charged is less than the estimate,
/// since `pay` refunds the weight of the proposal path and of a fee it did not take.
#[test]
fn an_agent_can_pay_its_controllers_fees_within_its_period_cap() {
	use codec::Encode;
	use frame_support::dispatch::GetDispatchInfo;
	use tokenmeter_runtime::Executive;
	use tokenmeter_test_chain::{signed, submit};

	chain_from_preset("development").execute_with(|| {
		let agent = alice_creates_agent(Policy { pays_fees: true, ..policy() });
		let (bob, charlie) = (Bob.to_account_id(), Charlie.to_account_id());
		let call = RuntimeCall::AgentWallet(pallet_agent_wallet::Call::pay {
			agent: agent.clone(),
			payee: charlie.clone(),
			amount: 10 * UNIT,
		});
		// What the transaction pool and the fee handler charge up front for it.
		let xt = signed(Bob, call.clone(), 0).unwrap();
		let estimate = tokenmeter_runtime::TransactionPayment::compute_fee(
			xt.encoded_size() as u32,
			&xt.get_dispatch_info(),
			0,
		);
		let before = |who: &AccountId| Balances::balance(who);
		let (bob_free, agent_free, charlie_free) = (before(&bob), before(&agent), before(&charlie));
		System::reset_events();
		assert_ok!(Executive::apply_extrinsic(xt).unwrap());
		let fee = fee_paid_by(&bob);
		assert!(fee > 0 && fee < estimate, "fee {fee}, estimate {estimate}");
		assert_eq!(Balances::balance(&bob), bob_free);
		assert_eq!(Balances::balance(&agent), agent_free - 10 * UNIT - fee);
		assert_eq!(Balances::balance(&charlie), charlie_free + 10 * UNIT);
		assert_eq!(AgentWallet::status(&agent).unwrap().spent, 10 * UNIT + fee);

		// An agent that does not pay fees: Bob does, and less than for the one that does.
		let plain = alice_creates_agent(policy());
		let call = RuntimeCall::AgentWallet(pallet_agent_wallet::Call::pay {
			agent: plain.clone(),
			payee: charlie.clone(),
			amount: 10 * UNIT,
		});
		let (bob_free, plain_free) = (before(&bob), before(&plain));
		System::reset_events();
		assert_ok!(submit(Bob, call).unwrap());
		let bobs_fee = fee_paid_by(&bob);
		assert!(bobs_fee > 0 && bobs_fee < fee, "{bobs_fee} < {fee}");
		assert_eq!(Balances::balance(&bob), bob_free - bobs_fee);
		assert_eq!(Balances::balance(&plain), plain_free - 10 * UNIT);
		assert_eq!(AgentWallet::status(&plain).unwrap().spent, 10 * UNIT);
		check_invariants();
	});
}

/// A thief with the controller key deposits the agent's funds as credits and approves a
/// delegate key (only the storage deposit counts as outflow). Once the owner freezes the
/// agent, the delegate's vouchers pay nothing from it after the settlement grace; nor do they
/// pay a provider that the agent's payee list leaves out.
#[test]
fn a_frozen_agent_pays_nothing_through_its_delegates() {
	use pallet_inference_credits::Call as CreditsCall;
	chain_from_preset("development").execute_with(|| {
		let alice = Alice.to_account_id();
		let dave = Dave.to_account_id();
		let model = provide_model(&alice, UNIT, UNIT, AccessRule::Open);
		let delegate_entry = |agent: &AccountId| {
			let voucher = Voucher {
				genesis_hash: System::block_hash(0),
				provider: alice.clone(),
				user: dave.clone(),
				payer: agent.clone(),
				cap: 30 * UNIT,
				expiry: 1_000,
				session: Some([2; 32]),
			};
			let signature = MultiSignature::from(Dave.pair().sign(&voucher.signing_payload()));
			// 1,000 input tokens at 1 TMT per 1,000.
			UsageEntry {
				user: dave.clone(),
				model,
				input_tokens: 1_000,
				output_tokens: 0,
				served_at: System::block_number(),
				voucher: SignedVoucher { voucher, signature },
			}
		};
		let approve = |agent: &AccountId| {
			assert_ok!(act(agent, deposit_credits(40 * UNIT)));
			assert_ok!(act(
				agent,
				RuntimeCall::InferenceCredits(CreditsCall::approve_delegate {
					delegate: dave.clone(),
					amount: 40 * UNIT,
					expiry: 1_000,
				})
			));
		};

		let agent = alice_creates_agent(policy());
		approve(&agent);
		let summary =
			<InferenceCredits as SettleUsage<_>>::settle(&alice, vec![delegate_entry(&agent)])
				.unwrap();
		assert_eq!((summary.charged, summary.rejected_entries), (UNIT, 0));
		assert_ok!(AgentWallet::freeze(RuntimeOrigin::signed(alice.clone()), agent.clone()));
		// Usage served before the freeze still settles during the grace (issue 28 §4) ...
		let summary =
			<InferenceCredits as SettleUsage<_>>::settle(&alice, vec![delegate_entry(&agent)])
				.unwrap();
		assert_eq!((summary.charged, summary.rejected_entries), (UNIT, 0));
		// ... and nothing after it.
		let grace = <<Runtime as pallet_agent_wallet::Config>::SettlementGrace as frame_support::traits::Get<u32>>::get();
		run_to_block(System::block_number() + grace + 1);
		let summary =
			<InferenceCredits as SettleUsage<_>>::settle(&alice, vec![delegate_entry(&agent)])
				.unwrap();
		assert_eq!((summary.charged, summary.rejected_entries), (0, 1));
		assert_eq!(InferenceCredits::credit_balance(&agent), 38 * UNIT);

		// A second agent that may pay Dave but not the provider Alice.
		let hash = H256::repeat_byte(8);
		let listed = AgentWallet::agent_address(&alice, &hash, 1);
		assert_ok!(AgentWallet::create_agent(
			RuntimeOrigin::signed(alice.clone()),
			hash,
			Policy { payees: Some(vec![dave.clone()].try_into().unwrap()), ..policy() },
			Bob.to_account_id()
		));
		assert_ok!(Balances::transfer_keep_alive(
			RuntimeOrigin::signed(alice.clone()),
			MultiAddress::Id(listed.clone()),
			1_000 * UNIT
		));
		approve(&listed);
		let summary =
			<InferenceCredits as SettleUsage<_>>::settle(&alice, vec![delegate_entry(&listed)])
				.unwrap();
		assert_eq!((summary.charged, summary.rejected_entries), (0, 1));
		assert_eq!(InferenceCredits::credit_balance(&listed), 40 * UNIT);
		check_invariants();
	});
}

/// Calls the gateway's runtime API by name, as `state_call` does.
fn gateway_api<R: codec::Decode>(method: &str, args: impl codec::Encode) -> R {
	let answer =
		tokenmeter_runtime::apis::api::dispatch(&format!("GatewayApi_{method}"), &args.encode())
			.expect("the runtime implements the gateway API");
	R::decode(&mut &answer[..]).expect("the answer decodes as tokenmeter-primitives says")
}

#[test]
fn a_gateway_reads_an_agent_in_one_call_with_the_chains_own_rules() {
	use tokenmeter_primitives::gateway::{DelegationView, GateRefusal, ModelView, UserView};
	type View = UserView<AccountId, Balance>;
	chain_from_preset("development").execute_with(|| {
		let alice = Alice.to_account_id();
		let model = provide_model(&alice, UNIT, 2 * UNIT, AccessRule::Open);
		let gated = provide_second_model(&alice, AccessRule::MinBalance(10_000_000 * UNIT));
		let agent = alice_creates_agent(policy());
		assert_ok!(act(&agent, deposit_credits(40 * UNIT)));

		let models: Vec<ModelView<Balance, u32>> = gateway_api("provider_models", &alice);
		let listed: Vec<_> = models.iter().map(|m| (m.id, m.prices, m.access)).collect();
		assert_eq!(
			listed,
			vec![
				(model, (UNIT, 2 * UNIT), AccessRule::Open),
				(gated, (UNIT, UNIT), AccessRule::MinBalance(10_000_000 * UNIT))
			]
		);
		// The agent: its controller signs; its credits; no ledger yet.
		let view: View = gateway_api("user_view", (&agent, &alice, model));
		assert_eq!(view.signer, Some(Bob.to_account_id()));
		assert_eq!(
			(view.refused, view.available_credit, view.settled, view.cap),
			(None, 40 * UNIT, 0, 0)
		);
		let priority = tokenmeter_runtime::PriorityStaking::priority_of(&agent);
		assert_eq!(
			(view.priority_weight, view.rate_limit),
			(priority.priority_weight, priority.rate_limit)
		);
		// The gate refuses with what it asked for and found.
		let view: View = gateway_api("user_view", (&agent, &alice, gated));
		assert_eq!(
			view.refused,
			Some(GateRefusal::BalanceBelowGate {
				required: 10_000_000 * UNIT,
				held: Balances::total_balance(&agent)
			})
		);
		let view: View = gateway_api("user_view", (&agent, &alice, 999u32));
		assert_eq!(view.refused, Some(GateRefusal::UnknownModel));
		// Frozen: nobody signs for it any more.
		assert_ok!(AgentWallet::freeze(RuntimeOrigin::signed(alice.clone()), agent.clone()));
		let view: View = gateway_api("user_view", (&agent, &alice, model));
		assert_eq!(view.signer, None);
		// A plain account signs for itself; delegations and the feed's position read likewise.
		let view: View = gateway_api("user_view", (Dave.to_account_id(), &alice, model));
		assert_eq!(view.signer, Some(Dave.to_account_id()));
		let none: Option<DelegationView<Balance, u32>> =
			gateway_api("delegation", (&alice, Dave.to_account_id()));
		assert_eq!(none, None);
		assert_ok!(InferenceCredits::approve_delegate(
			RuntimeOrigin::signed(alice.clone()),
			Dave.to_account_id(),
			7 * UNIT,
			500
		));
		let some: Option<DelegationView<Balance, u32>> =
			gateway_api("delegation", (&alice, Dave.to_account_id()));
		assert_eq!(some, Some(DelegationView { remaining: 7 * UNIT, expiry: 500 }));
		assert_eq!(gateway_api::<u64>("last_seq", &alice), 0);
		check_invariants();
	});
}

/// Lists a second model of `provider` (already registered) at 1 TMT per 1,000 tokens.
fn provide_second_model(provider: &AccountId, access: AccessRule<Balance>) -> u32 {
	let model = pallet_inference_credits::NextModelId::<Runtime>::get();
	assert_ok!(InferenceCredits::register_model(
		RuntimeOrigin::signed(provider.clone()),
		b"gated".to_vec().try_into().unwrap(),
		UNIT,
		UNIT,
		access,
	));
	model
}

/// Bob, the controller, signs a payment; it goes in as a general transaction (no signer) from
/// anyone, through the runtime's real transaction extensions: the pool's validation accepts it
/// and orders later nonces after it, the agent pays the amount and the fee (what
/// `pallet_transaction_payment` charges for its weight and length), Bob pays nothing, and the
/// same transaction again, a forged one, or one ahead of its turn, is refused before it takes
/// block space.
#[test]
fn anyone_submits_a_payment_the_controller_signed_and_the_agent_pays_its_fee() {
	use codec::Encode;
	use sp_runtime::transaction_validity::{
		InvalidTransaction, TransactionSource, TransactionValidityError,
	};
	use tokenmeter_runtime::{Executive, UncheckedExtrinsic};
	use tokenmeter_test_chain::general;

	fn pay_signed(
		agent: &AccountId,
		payee: &AccountId,
		amount: Balance,
		nonce: u32,
		signer: sp_keyring::Sr25519Keyring,
	) -> RuntimeCall {
		let message = AgentWallet::signed_payment_message(agent, payee, amount, nonce, 100);
		RuntimeCall::AgentWallet(pallet_agent_wallet::Call::pay_signed {
			agent: agent.clone(),
			payee: payee.clone(),
			amount,
			nonce,
			valid_until: 100,
			signature: pallet_agent_wallet::PaymentSignature::Bare(MultiSignature::from(
				signer.pair().sign(&message),
			)),
		})
	}
	let validate = |xt: &UncheckedExtrinsic| {
		Executive::validate_transaction(
			TransactionSource::External,
			xt.clone(),
			System::block_hash(System::block_number() - 1),
		)
	};

	chain_from_preset("development").execute_with(|| {
		run_to_block(2);
		let agent = alice_creates_agent(policy());
		let (bob, charlie) = (Bob.to_account_id(), Charlie.to_account_id());
		let call = pay_signed(&agent, &charlie, 10 * UNIT, 0, Bob);
		let xt = general(call.clone());
		let valid = validate(&xt).expect("the pool accepts it");
		assert!(!valid.provides.is_empty() && valid.requires.is_empty());
		// The next nonce waits for this one in the pool.
		let next = general(pay_signed(&agent, &charlie, 5 * UNIT, 1, Bob));
		assert_eq!(validate(&next).expect("valid in the pool").requires, valid.provides);
		assert_eq!(
			Executive::apply_extrinsic(next.clone()),
			Err(TransactionValidityError::Invalid(InvalidTransaction::Future))
		);
		// Signed by Dave, not the controller.
		let forged = general(pay_signed(&agent, &charlie, 10 * UNIT, 0, Dave));
		assert_eq!(validate(&forged), Err(InvalidTransaction::BadProof.into()));

		let length = xt.encoded_size() as u32;
		let fee = AgentWallet::signed_payment_fee(length);
		let before = |who: &AccountId| Balances::balance(who);
		let (bob_free, agent_free, charlie_free) = (before(&bob), before(&agent), before(&charlie));
		let issuance = Balances::total_issuance();
		System::reset_events();
		let weight = || {
			System::block_weight().get(frame_support::dispatch::DispatchClass::Normal).ref_time()
		};
		let counted = weight();
		assert_ok!(Executive::apply_extrinsic(xt.clone()).unwrap());
		// The fee is what a transaction of the weight the block counted for it (less the base
		// weight, which the fee adds) and of its length pays, within the few extensions'
		// weight the pallet does not see.
		let counted = weight() - counted;
		let priced = tokenmeter_runtime::TransactionPayment::compute_fee(
			length,
			&frame_support::dispatch::DispatchInfo {
				call_weight: frame_support::weights::Weight::from_parts(
					counted
						- <Runtime as frame_system::Config>::BlockWeights::get()
							.get(frame_support::dispatch::DispatchClass::Normal)
							.base_extrinsic
							.ref_time(),
					0,
				),
				..Default::default()
			},
			0,
		);
		assert!(fee <= priced && fee * 11 / 10 >= priced, "fee {fee}, priced {priced}");
		assert_eq!(before(&bob), bob_free);
		assert_eq!(before(&charlie), charlie_free + 10 * UNIT);
		assert_eq!(before(&agent), agent_free - 10 * UNIT - fee);
		assert_eq!(Balances::total_issuance(), issuance - fee);
		let status = AgentWallet::status(&agent).unwrap();
		assert_eq!((status.spent, status.next_payment_id), (10 * UNIT + fee, 1));

		// Replayed: stale in the pool and in a block, nothing moves.
		assert_eq!(validate(&xt), Err(InvalidTransaction::Stale.into()));
		assert_eq!(
			Executive::apply_extrinsic(xt),
			Err(TransactionValidityError::Invalid(InvalidTransaction::Stale))
		);
		assert_eq!(before(&charlie), charlie_free + 10 * UNIT);
		// Its turn now.
		assert_ok!(Executive::apply_extrinsic(next).unwrap());
		assert_eq!(before(&charlie), charlie_free + 15 * UNIT);
		check_invariants();
	});
}
