//! Usage attestation as configured in the runtime: a provider's operator attests usage with
//! real vouchers and the credits pallet settles it; replays settle nothing; a record over its
//! voucher's cap is not paid beyond the cap.

mod common;

use codec::{Decode, Encode};
use common::{chain_from_preset, provide_model, signed_voucher};
use frame_support::{
	assert_noop, assert_ok,
	dispatch::DispatchClass,
	traits::{fungible::Inspect, Hooks},
	weights::Weight,
};
use pallet_inference_credits::{AccessRule, UsageEntry};
use pallet_usage_attestation::{FeedEntry, FeedRecord};
use sp_core::{
	crypto::Ss58Codec,
	offchain::{
		testing::{PendingRequest, TestOffchainExt, TestTransactionPoolExt},
		OffchainDbExt, OffchainWorkerExt, StorageKind, TransactionPoolExt,
	},
};
use sp_keyring::Sr25519Keyring::{Alice, Bob, Charlie, Dave};
use sp_keystore::{testing::MemoryKeystore, Keystore, KeystoreExt};
use sp_runtime::MultiSignature;
use tokenmeter_runtime::{
	configs::{inference_credits::RewardPoolAccount, usage_attestation::FeedEntries},
	AccountId, Balances, Executive, InferenceCredits, Runtime, RuntimeOrigin, System,
	UncheckedExtrinsic, UsageAttestation, UNIT,
};

/// Alice provides a model at 1 TMT per 1,000 tokens with Charlie as her operator, allowed
/// `capacity` tokens an epoch; Bob has 100 TMT of credits. The model's id.
fn provider_with_operator(capacity: u64) -> pallet_inference_credits::ModelId {
	let (alice, bob, charlie) =
		(Alice.to_account_id(), Bob.to_account_id(), Charlie.to_account_id());
	let model = provide_model(&alice, UNIT, UNIT, AccessRule::Open);
	assert_ok!(InferenceCredits::deposit_credits(RuntimeOrigin::signed(bob), 100 * UNIT));
	assert_ok!(UsageAttestation::register_operator(RuntimeOrigin::signed(alice.clone()), charlie));
	assert_ok!(UsageAttestation::set_capacity(RuntimeOrigin::signed(alice), capacity));
	model
}

#[test]
fn an_operator_attests_usage_and_credits_pay_the_provider() {
	chain_from_preset("development").execute_with(|| {
		let (alice, bob, charlie) =
			(Alice.to_account_id(), Bob.to_account_id(), Charlie.to_account_id());
		let model = provider_with_operator(1_000_000);

		// 10,000 input tokens at 1 TMT per 1,000 under a 15 TMT voucher, then 10,000 more:
		// only 5 TMT of the second are within the voucher's cap.
		let voucher = signed_voucher(Bob, &alice, 15 * UNIT);
		let entry = UsageEntry {
			user: bob.clone(),
			model,
			input_tokens: 10_000,
			output_tokens: 0,
			served_at: System::block_number(),
			voucher,
		};
		let (alice_free, pool_free) =
			(Balances::balance(&alice), Balances::balance(&RewardPoolAccount::get()));
		let attest = |first_seq| {
			UsageAttestation::attest(
				RuntimeOrigin::signed(charlie.clone()),
				alice.clone(),
				first_seq,
				vec![entry.clone()].try_into().unwrap(),
			)
		};
		assert_ok!(attest(1));
		assert_eq!(InferenceCredits::credit_balance(&bob), 90 * UNIT);
		// The provider got 10 TMT minus the 5% protocol fee: 0.4 TMT to the reward pool, 0.1 TMT
		// to the treasury.
		assert_eq!(Balances::balance(&alice), alice_free + 10 * UNIT - UNIT / 2);
		assert_eq!(Balances::balance(&RewardPoolAccount::get()), pool_free + 2 * UNIT / 5);
		// Replaying the same batch settles nothing.
		assert_noop!(attest(1), pallet_usage_attestation::Error::<Runtime>::Replay);
		// The next record is paid up to the voucher's cap only.
		assert_ok!(attest(2));
		assert_eq!(InferenceCredits::credit_balance(&bob), 85 * UNIT);
		// Another provider's operator (Dave is none) cannot attest for Alice.
		assert_noop!(
			UsageAttestation::attest(
				RuntimeOrigin::signed(Dave.to_account_id()),
				alice.clone(),
				2,
				vec![entry.clone()].try_into().unwrap()
			),
			pallet_usage_attestation::Error::<Runtime>::NotOperator
		);
		UsageAttestation::do_try_state().unwrap();
		InferenceCredits::do_try_state().unwrap();
	});
}

/// On this runtime: an attestation is charged its settlement's worst case and refunded to the
/// signature checks made — one for a new voucher, none for the one the chain accepted before —
/// and the worker expects exactly what it is then charged, so a block takes more attestations
/// of remembered vouchers than their declared weight says.
#[test]
fn an_attestation_is_refunded_to_the_checks_made_and_the_worker_expects_it() {
	chain_from_preset("development").execute_with(|| {
		let (alice, bob, charlie) =
			(Alice.to_account_id(), Bob.to_account_id(), Charlie.to_account_id());
		let model = provider_with_operator(1_000_000_000);
		let entry = UsageEntry {
			user: bob.clone(),
			model,
			input_tokens: 40,
			output_tokens: 0,
			served_at: System::block_number(),
			voucher: signed_voucher(Bob, &alice, 50 * UNIT),
		};
		let entries = vec![entry; 256];
		let base = <Runtime as frame_system::Config>::BlockWeights::get()
			.get(DispatchClass::Normal)
			.base_extrinsic;
		let declared = UsageAttestation::attest_weight(256);
		let attest = |first_seq| {
			UsageAttestation::attest(
				RuntimeOrigin::signed(charlie.clone()),
				alice.clone(),
				first_seq,
				entries.clone().try_into().unwrap(),
			)
			.expect("the batch settles")
			.actual_weight
			.expect("a refund")
		};

		// A new voucher (bare): one check.
		let new = UsageAttestation::expected_attest_weight(&alice, &entries);
		assert_eq!(attest(1) + base, new);
		// The same voucher again: none.
		let remembered = UsageAttestation::expected_attest_weight(&alice, &entries);
		assert_eq!(attest(257) + base, remembered);
		let check = InferenceCredits::signature_check_weight();
		assert!(check.ref_time() > 0);
		assert_eq!(new.saturating_sub(remembered), check);
		assert!((remembered + check.saturating_mul(4)).all_lte(declared + base));
		assert_eq!(
			InferenceCredits::credit_balance(&bob),
			100 * UNIT - 2 * 256 * 40 * UNIT / 1_000
		);

		// Attestations a block takes: at their declared weight, and at the weight the worker
		// expects of remembered vouchers.
		let takes = |each: Weight| {
			(0u64..)
				.take_while(|k| UsageAttestation::block_takes(each.saturating_mul(*k), 256))
				.count()
		};
		assert!(takes(remembered) > takes(declared + base));
		UsageAttestation::do_try_state().unwrap();
		InferenceCredits::do_try_state().unwrap();
	});
}

/// A feed record of `user`'s usage of `model`: 10,000 input tokens under `voucher`, with
/// the signature as the feed gives it.
fn feed_record(
	seq: u64,
	user: &AccountId,
	model: u32,
	voucher: &pallet_inference_credits::SignedVoucher<
		sp_core::H256,
		AccountId,
		u128,
		u32,
		MultiSignature,
	>,
	signature: Vec<u8>,
) -> FeedRecord {
	FeedRecord {
		seq,
		user: user.to_ss58check(),
		on_behalf_of: None,
		model,
		input_tokens: 10_000,
		output_tokens: 0,
		cap: voucher.voucher.cap,
		expiry: voucher.voucher.expiry.into(),
		signature,
		session: voucher.voucher.session,
		served_at: System::block_number().into(),
	}
}

#[test]
fn feed_records_read_into_entries_that_settle() {
	chain_from_preset("development").execute_with(|| {
		let (alice, bob) = (Alice.to_account_id(), Bob.to_account_id());
		let model = provide_model(&alice, UNIT, UNIT, AccessRule::Open);
		let voucher = signed_voucher(Bob, &alice, 50 * UNIT);
		let MultiSignature::Sr25519(raw) = voucher.signature.clone() else { unreachable!() };
		// The signature as 64 bare sr25519 bytes or as an encoded `MultiSignature`: the same
		// entry, for this chain and this provider.
		for signature in [raw.0.to_vec(), voucher.signature.encode()] {
			let entry =
				FeedEntries::entry(&alice, feed_record(1, &bob, model, &voucher, signature))
					.expect("the record reads");
			assert_eq!(entry.voucher, voucher);
			assert_eq!((entry.user.clone(), entry.input_tokens), (bob.clone(), 10_000));
		}
		let bad = |change: fn(&mut FeedRecord)| {
			let mut record = feed_record(1, &bob, model, &voucher, voucher.signature.encode());
			change(&mut record);
			FeedEntries::entry(&alice, record).err()
		};
		assert_eq!(bad(|r| r.user = "5Grwva".into()), Some("user is not SS58"));
		assert_eq!(bad(|r| r.on_behalf_of = Some("bob".into())), Some("on_behalf_of is not SS58"));
		assert_eq!(bad(|r| r.signature = vec![1; 10]), Some("voucher.signature"));
		assert_eq!(bad(|r| r.signature = vec![1; 67]), Some("voucher.signature"));
		// A bare 65-byte ECDSA signature whose first byte is not a `MultiSignature` type.
		assert_eq!(bad(|r| r.signature = vec![7; 65]), Some("voucher.signature"));
		assert_eq!(bad(|r| r.expiry = u64::MAX), Some("voucher.expiry"));
	});
}

/// The off-chain worker of the real runtime with an operator key in the keystore: the feed's
/// answer (257 records: more than one attestation holds) becomes two transactions with
/// consecutive nonces that the runtime accepts in turn (signature, extensions, fees), and
/// applying them pays the provider from the user's credits.
#[test]
fn the_off_chain_worker_submits_a_transaction_the_runtime_applies() {
	let mut ext = chain_from_preset("development");
	let (offchain, state) = TestOffchainExt::new();
	let (pool, pool_state) = TestTransactionPoolExt::new();
	let keystore = MemoryKeystore::new();
	let operator = keystore
		.sr25519_generate_new(pallet_usage_attestation::KEY_TYPE, Some("//Charlie"))
		.expect("the key is generated");
	assert_eq!(AccountId::from(operator), Charlie.to_account_id());
	ext.register_extension(OffchainDbExt::new(offchain.clone()));
	ext.register_extension(OffchainWorkerExt::new(offchain));
	ext.register_extension(TransactionPoolExt::new(pool));
	ext.register_extension(KeystoreExt::new(keystore));

	let (alice, bob, charlie) =
		(Alice.to_account_id(), Bob.to_account_id(), Charlie.to_account_id());
	let record = ext.execute_with(|| {
		let model = provider_with_operator(1_000_000);
		sp_io::offchain::local_storage_set(
			StorageKind::PERSISTENT,
			pallet_usage_attestation::ocw::FEED_URL_KEY,
			b"http://localhost:8099/",
		);
		let voucher = signed_voucher(Bob, &alice, 50 * UNIT);
		let record = feed_record(1, &bob, model, &voucher, voucher.signature.encode());
		let records: Vec<String> = (1..=257)
			.map(|seq| {
				format!(
					r#"{{"seq":{seq},"user":"{}","model":{model},"input_tokens":40,"output_tokens":0,
					"served_at":{},"voucher":{{"cap":"{}","expiry":{},"signature":"0x{}","session":"0x{}"}}}}"#,
					record.user,
					record.served_at,
					record.cap,
					record.expiry,
					sp_core::hexdisplay::HexDisplay::from(&record.signature),
					sp_core::hexdisplay::HexDisplay::from(&record.session.expect("a v2 voucher")),
				)
			})
			.collect();
		format!("[{}]", records.join(","))
	});
	// The worker asks for the records of as many full attestations as a run may send.
	let batches = pallet_usage_attestation::ocw::MAX_BATCHES_PER_RUN;
	state.write().expect_request(PendingRequest {
		method: "GET".into(),
		uri: format!("http://localhost:8099/usage?after=0&limit={}", 256 * batches),
		response: Some(record.into_bytes()),
		sent: true,
		..Default::default()
	});
	ext.execute_with(|| {
		// A worker's changes to the chain's state are thrown away, as on a node.
		frame_support::storage::with_transaction(|| {
			UsageAttestation::offchain_worker(System::block_number());
			sp_runtime::TransactionOutcome::Rollback(Ok::<_, sp_runtime::DispatchError>(()))
		})
		.unwrap();
		let transactions = pool_state.read().transactions.clone();
		assert_eq!(transactions.len(), 2, "256 records, then 1");
		let (alice_free, charlie_free) = (Balances::balance(&alice), Balances::balance(&charlie));
		for (i, tx) in transactions.iter().enumerate() {
			let xt = UncheckedExtrinsic::decode(&mut &tx[..]).expect("an extrinsic");
			assert_ok!(Executive::apply_extrinsic(xt).expect("the transaction is valid"));
			assert_eq!(System::account_nonce(&charlie), i as u32 + 1);
		}
		// 257 × 40 tokens at 1 TMT per 1,000, less the 5% protocol fee.
		let charged = 257 * 40 * UNIT / 1_000;
		assert_eq!(InferenceCredits::credit_balance(&bob), 100 * UNIT - charged);
		assert_eq!(Balances::balance(&alice), alice_free + charged - charged / 20);
		// The operator paid the fees.
		assert!(Balances::balance(&charlie) < charlie_free);
		assert_eq!(pallet_usage_attestation::LastSeq::<Runtime>::get(&alice), 257);
		UsageAttestation::do_try_state().unwrap();
	});
}
