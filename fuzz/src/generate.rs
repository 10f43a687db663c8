//! Random transactions over every pallet a user can reach, drawn from a seeded generator.
//!
//! The generator reads the chain's state (providers, models, agents, pending payments,
//! operators, feedback) so that most calls name things that exist and most signers are the
//! ones allowed to act; the rest are deliberately wrong (strangers, unknown ids, zero and
//! enormous amounts, expired or foreign vouchers) so that error paths run too.

use codec::Encode;
use frame_support::{
	traits::{
		fungible,
		tokens::{Fortitude, Preservation},
		Get,
	},
	BoundedVec,
};
use pallet_agent_wallet::{Agents, PendingPayments, Policy, PolicyOf};
use pallet_feedback_rewards::FeedbackKind;
use pallet_inference_credits::{AccessRule, SignedVoucher, UsageEntry, Voucher};
use pallet_priority_staking::{StakingParams, TierInfo};
use sp_core::{Pair, H256};
use sp_keyring::Sr25519Keyring;
use sp_runtime::{MultiAddress, MultiSignature};
use tokenmeter_runtime::{
	configs::inference_credits::RewardPoolAccount, AccountId, Balance, Balances, BlockNumber,
	Runtime, RuntimeCall, System, UNIT,
};

/// The accounts that sign: the six endowed development accounts, and two (`One`, `Two`)
/// that start with nothing and can only act once someone pays them.
pub const ACTORS: [Sr25519Keyring; 8] = [
	Sr25519Keyring::Alice,
	Sr25519Keyring::Bob,
	Sr25519Keyring::Charlie,
	Sr25519Keyring::Dave,
	Sr25519Keyring::Eve,
	Sr25519Keyring::Ferdie,
	Sr25519Keyring::One,
	Sr25519Keyring::Two,
];

/// A small, fast, seeded pseudo-random generator (SplitMix64): the same seed gives the same
/// sequence on every machine.
pub struct Rng(u64);

impl Rng {
	/// A generator started from `seed`.
	pub fn new(seed: u64) -> Self {
		Rng(seed)
	}

	/// The next 64 random bits.
	pub fn next_u64(&mut self) -> u64 {
		self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
		let mut z = self.0;
		z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
		z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
		z ^ (z >> 31)
	}

	/// A number in `0..n` (0 when `n` is 0).
	pub fn below(&mut self, n: u64) -> u64 {
		self.next_u64().checked_rem(n).unwrap_or(0)
	}

	/// True with probability `percent`/100.
	pub fn chance(&mut self, percent: u64) -> bool {
		self.below(100) < percent
	}

	/// One of `items` (`None` when empty).
	pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
		let i = usize::try_from(self.below(items.len() as u64)).ok()?;
		items.get(i)
	}
}

/// What an agent looks like to the generator.
struct AgentView {
	agent: AccountId,
	owner: AccountId,
	controller: AccountId,
	pending: Vec<u32>,
	next_payment_id: u32,
	/// The payees its policy allows (`None`: anyone).
	payees: Option<Vec<AccountId>>,
	/// The most a signed payment could move now, its fee aside: within the per-payment cap,
	/// the cosign threshold, what is left of the period and of the agent's balance.
	room: Balance,
}

/// Draws transactions from the chain's current state.
pub struct Generator {
	rng: Rng,
	counter: u64,
}

impl Generator {
	/// A generator seeded with `seed`.
	pub fn new(seed: u64) -> Self {
		Generator { rng: Rng::new(seed), counter: 0 }
	}

	/// The generator's random source.
	pub fn rng(&mut self) -> &mut Rng {
		&mut self.rng
	}

	/// A transaction: who signs it and what it calls. Must run inside the chain's
	/// externalities (it reads the state).
	pub fn transaction(&mut self) -> (Sr25519Keyring, RuntimeCall) {
		let signer = self.actor();
		let agents = agents();
		let call = match self.rng.below(100) {
			0..=9 => self.balances_call(),
			10..=29 => self.credits_call(),
			30..=39 => self.staking_call(),
			40..=59 => return self.agent_transaction(signer, &agents),
			60..=74 => self.feedback_call(Some(signer.to_account_id())),
			75..=87 => return self.attestation_transaction(signer, &agents),
			88..=93 => self.batch(0),
			_ => return (Sr25519Keyring::Alice, self.sudo_call()),
		};
		(signer, call)
	}

	fn actor(&mut self) -> Sr25519Keyring {
		// Alice signs one in two transactions at most (she is also sudo).
		*self.rng.pick(&ACTORS).unwrap_or(&Sr25519Keyring::Bob)
	}

	/// An account: mostly an actor, sometimes an agent, the reward pool or nobody known.
	fn account(&mut self) -> AccountId {
		match self.rng.below(10) {
			0 => {
				let agents = agents();
				match self.rng.pick(&agents) {
					Some(view) => view.agent.clone(),
					None => self.actor().to_account_id(),
				}
			}
			1 => RewardPoolAccount::get(),
			2 => AccountId::from(
				self.rng.next_u64().encode().repeat(4).try_into().unwrap_or([0u8; 32]),
			),
			_ => self.actor().to_account_id(),
		}
	}

	/// An amount: the edges (zero, one, around the existential deposit, the whole supply)
	/// and everyday sizes.
	fn amount(&mut self) -> Balance {
		let ed = tokenmeter_runtime::EXISTENTIAL_DEPOSIT;
		match self.rng.below(14) {
			0 => 0,
			1 => 1,
			2 => ed.saturating_sub(1),
			3 => ed,
			4 => Balance::MAX,
			5 => 1_000_000 * UNIT,
			6 => UNIT / 10,
			7 => UNIT,
			8 => 10 * UNIT,
			9 => 100 * UNIT,
			10 => 1_000 * UNIT,
			_ => Balance::from(self.rng.below(500_000)).saturating_mul(UNIT / 1_000),
		}
	}

	/// A block number near now, or an edge.
	fn block(&mut self) -> BlockNumber {
		let now = System::block_number();
		match self.rng.below(6) {
			0 => 0,
			1 => now,
			2 => BlockNumber::MAX,
			_ => now.saturating_add(self.rng.below(200) as BlockNumber),
		}
	}

	fn bytes(&mut self, max: u64) -> Vec<u8> {
		let len = self.rng.below(max.saturating_add(1));
		(0..len).map(|_| self.rng.next_u64() as u8).collect()
	}

	fn bounded<S: Get<u32>>(&mut self, max: u64) -> BoundedVec<u8, S> {
		BoundedVec::truncate_from(self.bytes(max))
	}

	fn hash(&mut self) -> H256 {
		self.counter = self.counter.wrapping_add(1);
		crate::chain::unique_hash(self.counter ^ self.rng.next_u64())
	}

	fn model(&mut self) -> u32 {
		let next = pallet_inference_credits::NextModelId::<Runtime>::get();
		self.rng.below(u64::from(next).saturating_add(2)) as u32
	}

	fn access_rule(&mut self) -> AccessRule<Balance> {
		match self.rng.below(4) {
			0 => AccessRule::MinBalance(self.amount()),
			1 => AccessRule::MinTier(self.rng.below(4) as u8),
			2 => AccessRule::MinBalanceAndTier(self.amount(), self.rng.below(4) as u8),
			_ => AccessRule::Open,
		}
	}

	fn balances_call(&mut self) -> RuntimeCall {
		let dest = MultiAddress::Id(self.account());
		let value = self.amount();
		let keep_alive = self.rng.chance(50);
		// `transfer_all` is rare: an actor who empties its account signs nothing more.
		RuntimeCall::Balances(match self.rng.below(5) {
			0 => pallet_balances::Call::transfer_keep_alive { dest, value },
			1 if self.rng.chance(10) => pallet_balances::Call::transfer_all { dest, keep_alive },
			2 => pallet_balances::Call::burn { value, keep_alive },
			_ => pallet_balances::Call::transfer_allow_death { dest, value },
		})
	}

	fn credits_call(&mut self) -> RuntimeCall {
		use pallet_inference_credits::Call;
		let call = match self.rng.below(13) {
			0 => Call::register_provider { name: self.bounded(16), endpoint: self.bounded(24) },
			1 => Call::update_provider { name: self.bounded(16), endpoint: self.bounded(24) },
			2 => Call::retire_provider {},
			3 | 4 => Call::register_model {
				name: self.bounded(16),
				price_per_1k_input: self.amount() / 1_000,
				price_per_1k_output: self.amount() / 1_000,
				access: self.access_rule(),
			},
			5 => Call::update_model {
				model: self.model(),
				price_per_1k_input: self.amount() / 1_000,
				price_per_1k_output: self.amount() / 1_000,
				access: self.access_rule(),
			},
			6 if self.rng.chance(50) => {
				Call::set_allowance_honoured { model: self.model(), honoured: self.rng.chance(70) }
			}
			6 => Call::retire_model { model: self.model() },
			7 | 8 => Call::deposit_credits { amount: self.amount() },
			9 if self.rng.chance(50) => Call::request_withdrawal { amount: self.amount() },
			9 => Call::withdraw_credits { amount: self.amount() },
			10 => Call::approve_delegate {
				delegate: self.account(),
				amount: self.amount(),
				expiry: self.block(),
			},
			11 => Call::revoke_delegate { delegate: self.account() },
			// Congestion pricing: mostly valid settings, some out of range, some opt-outs.
			_ => Call::set_dynamic_pricing {
				model: self.model(),
				config: (!self.rng.chance(20)).then(|| pallet_inference_credits::PricingConfig {
					capacity: self.rng.below(1_000_000),
					target: sp_runtime::Perbill::from_percent(self.rng.below(101) as u32),
					min_multiplier: sp_runtime::FixedU128::from_rational(
						u128::from(self.rng.below(12)),
						10,
					),
					max_multiplier: sp_runtime::FixedU128::from_rational(
						u128::from(self.rng.below(120)),
						10,
					),
				}),
			},
		};
		RuntimeCall::InferenceCredits(call)
	}

	fn staking_call(&mut self) -> RuntimeCall {
		use pallet_priority_staking::Call;
		RuntimeCall::PriorityStaking(match self.rng.below(5) {
			0 | 1 => Call::stake { amount: self.amount() },
			2 | 3 => Call::unstake { amount: self.amount() },
			_ => Call::withdraw_unbonded {},
		})
	}

	fn policy(&mut self) -> PolicyOf<Runtime> {
		let payees = if self.rng.chance(50) {
			None
		} else {
			let n = self.rng.below(4);
			Some(BoundedVec::truncate_from((0..n).map(|_| self.account()).collect()))
		};
		let cosigners = BoundedVec::truncate_from(
			(0..self.rng.below(3)).map(|_| self.actor().to_account_id()).collect(),
		);
		Policy {
			per_payment_cap: self.amount(),
			period_cap: self.amount(),
			period_length: self.rng.below(30) as BlockNumber,
			payees,
			cosign_threshold: self.amount(),
			cosigners,
			approvals_needed: self.rng.below(3) as u32,
			expiry: if self.rng.chance(70) { None } else { Some(self.block()) },
			pays_fees: self.rng.chance(40),
		}
	}

	/// An agent-wallet transaction, mostly signed by whoever may send it.
	fn agent_transaction(
		&mut self,
		signer: Sr25519Keyring,
		agents: &[AgentView],
	) -> (Sr25519Keyring, RuntimeCall) {
		use pallet_agent_wallet::Call;
		let Some(view) = self.rng.pick(agents).filter(|_| self.rng.chance(85)) else {
			let controller = self.actor().to_account_id();
			let call =
				Call::create_agent { config_hash: self.hash(), policy: self.policy(), controller };
			return (signer, RuntimeCall::AgentWallet(call));
		};
		let agent = view.agent.clone();
		let as_key = |who: &AccountId| Sr25519Keyring::from_account_id(who);
		let controller = as_key(&view.controller).filter(|_| self.rng.chance(85)).unwrap_or(signer);
		let owner = as_key(&view.owner).filter(|_| self.rng.chance(85)).unwrap_or(signer);
		let id = self.rng.pick(&view.pending).copied().unwrap_or_else(|| self.rng.below(4) as u32);
		let (who, call) = match self.rng.below(18) {
			0..=3 => {
				(controller, Call::pay { agent, payee: self.account(), amount: self.amount() })
			}
			4..=6 => {
				let inner = self.agent_inner_call();
				(controller, Call::act { agent, call: Box::new(inner) })
			}
			7 => (self.actor(), Call::approve { agent, id }),
			8 => (owner, Call::approve { agent, id }),
			9 => (owner, Call::reject { agent, id }),
			10 => (self.actor(), Call::reap { agent, id }),
			11 => (owner, Call::set_policy { agent, policy: self.policy() }),
			12 => (owner, Call::freeze { agent }),
			13 => (owner, Call::unfreeze { agent }),
			14 if self.rng.chance(50) => {
				(owner, Call::rotate_controller { agent, new: self.actor().to_account_id() })
			}
			14 => (owner, Call::close_agent { agent }),
			15 => (owner, Call::withdraw { agent, amount: self.amount() }),
			// A payment signed off chain, mostly by the controller, mostly with the next nonce;
			// applied as a general transaction (the signer here only signs the payment).
			_ => {
				// Mostly an agent that may pay now, a payee its policy allows and an amount
				// within what it may spend, so that many are authorized and paid: what the
				// block then does with them is what is checked (an authorized payment that
				// fails is a violation).
				let ready: Vec<&AgentView> = agents.iter().filter(|v| v.room > 0).collect();
				let view = match self.rng.pick(&ready).filter(|_| self.rng.chance(70)) {
					Some(ready) => *ready,
					None => view,
				};
				let agent = view.agent.clone();
				let controller =
					as_key(&view.controller).filter(|_| self.rng.chance(90)).unwrap_or(signer);
				let allowed = match &view.payees {
					Some(payees) => payees.clone(),
					None => vec![self.actor().to_account_id()],
				};
				let payee = match self.rng.pick(&allowed).filter(|_| self.rng.chance(80)) {
					Some(payee) => payee.clone(),
					None => self.account(),
				};
				let amount = match self.rng.below(4) {
					0 | 1 if view.room > 0 => {
						let room = u64::try_from(view.room).unwrap_or(u64::MAX);
						Balance::from(self.rng.below(room)).saturating_add(1)
					}
					2 => 1,
					_ => self.amount(),
				};
				let next = view.next_payment_id;
				let nonce = if self.rng.chance(80) {
					next
				} else {
					next.saturating_add(self.rng.below(3) as u32).saturating_sub(1)
				};
				let valid_until = System::block_number().saturating_add(self.rng.below(20) as u32);
				let message = pallet_agent_wallet::Pallet::<Runtime>::signed_payment_message(
					&agent,
					&payee,
					amount,
					nonce,
					valid_until,
				);
				// Bare or wrapped, as a program or a browser wallet signs; sometimes in the
				// other form than the one named.
				let wrapped = pallet_agent_wallet::wrap_bytes(&message);
				let (named_wrapped, signed_wrapped) = match self.rng.below(20) {
					0..=8 => (false, false),
					9..=17 => (true, true),
					18 => (true, false),
					_ => (false, true),
				};
				let signed = if signed_wrapped { &wrapped } else { &message };
				let raw = MultiSignature::from(controller.pair().sign(signed));
				let signature = if named_wrapped {
					pallet_agent_wallet::PaymentSignature::Wrapped(raw)
				} else {
					pallet_agent_wallet::PaymentSignature::Bare(raw)
				};
				(
					controller,
					Call::pay_signed { agent, payee, amount, nonce, valid_until, signature },
				)
			}
		};
		(who, RuntimeCall::AgentWallet(call))
	}

	/// What a controller asks an agent to do through `act`: anything a user could call, the
	/// runtime's allowlist decides.
	fn agent_inner_call(&mut self) -> RuntimeCall {
		match self.rng.below(6) {
			0 => self.balances_call(),
			1 => self.credits_call(),
			2 => self.staking_call(),
			3 => self.feedback_call(None),
			4 => self.batch(1),
			_ => RuntimeCall::System(frame_system::Call::remark { remark: self.bytes(8) }),
		}
	}

	/// A feedback transaction; `validator` is who signs it (`None` for an agent's act), so
	/// that its commitments can be revealed: each (feedback, validator) has one score.
	fn feedback_call(&mut self, validator: Option<AccountId>) -> RuntimeCall {
		use pallet_feedback_rewards::Call;
		let next_feedback = pallet_feedback_rewards::NextFeedbackId::<Runtime>::get();
		let feedback = self.rng.below(u64::from(next_feedback).saturating_add(2)) as u32;
		let epoch = self.rng.below(u64::from(System::block_number() / 6).saturating_add(3)) as u32;
		let kinds = [
			FeedbackKind::Rating,
			FeedbackKind::Preference,
			FeedbackKind::Label,
			FeedbackKind::BugReport,
			FeedbackKind::Moderation,
		];
		RuntimeCall::FeedbackRewards(match self.rng.below(12) {
			0..=2 => Call::submit_feedback {
				model: self.model(),
				output_hash: self.hash(),
				kind: *self.rng.pick(&kinds).unwrap_or(&FeedbackKind::Rating),
				payload_hash: self.hash(),
			},
			3 => {
				Call::register_validator { bond: self.amount().max(100 * tokenmeter_runtime::UNIT) }
			}
			4 => Call::deregister_validator {},
			5 => match &validator {
				Some(who) if self.rng.chance(85) => Call::commit_score {
					id: feedback,
					commitment: pallet_feedback_rewards::Pallet::<Runtime>::commitment(
						feedback,
						who,
						fuzz_score(feedback, who),
						&[feedback as u8; 32],
					),
				},
				_ => Call::commit_score { id: feedback, commitment: self.hash() },
			},
			6 => match &validator {
				Some(who) if self.rng.chance(85) => Call::reveal_score {
					id: feedback,
					score: fuzz_score(feedback, who),
					salt: [feedback as u8; 32],
				},
				_ => Call::reveal_score {
					id: feedback,
					score: self.rng.below(110) as u8,
					salt: [0; 32],
				},
			},
			7 => Call::close_epoch { epoch },
			8 => Call::claim { epoch },
			9 => Call::claim_many { max_epochs: self.rng.below(40) as u32 },
			10 => Call::fund_pool { amount: self.amount() },
			_ => Call::finalize_feedback { id: feedback },
		})
	}

	/// A usage-attestation transaction: operator registration by providers, capacity, and
	/// attestations of usage with real (sometimes wrong) vouchers, mostly by real operators.
	fn attestation_transaction(
		&mut self,
		signer: Sr25519Keyring,
		agents: &[AgentView],
	) -> (Sr25519Keyring, RuntimeCall) {
		use pallet_usage_attestation::Call;
		let providers: Vec<AccountId> =
			pallet_inference_credits::Providers::<Runtime>::iter_keys().collect();
		let provider = self.rng.pick(&providers).cloned().unwrap_or_else(|| self.account());
		let provider_key = Sr25519Keyring::from_account_id(&provider).unwrap_or(signer);
		let (who, call) = match self.rng.below(10) {
			0 | 1 => {
				(provider_key, Call::register_operator { operator: self.actor().to_account_id() })
			}
			2 => (provider_key, Call::remove_operator { operator: self.actor().to_account_id() }),
			3 => (
				provider_key,
				Call::set_capacity { tokens_per_epoch: self.rng.next_u64() >> self.rng.below(64) },
			),
			_ => {
				let operators: Vec<AccountId> =
					pallet_usage_attestation::Operators::<Runtime>::iter()
						.filter(|(_, record)| record.provider == provider)
						.map(|(operator, _)| operator)
						.collect();
				let operator = self
					.rng
					.pick(&operators)
					.and_then(Sr25519Keyring::from_account_id)
					.filter(|_| self.rng.chance(90))
					.unwrap_or(signer);
				let last = pallet_usage_attestation::LastSeq::<Runtime>::get(&provider);
				let first_seq = match self.rng.below(10) {
					0 => last,
					1 => last.saturating_add(2),
					_ => last.saturating_add(1),
				};
				if self.rng.chance(10) {
					let reason = BoundedVec::truncate_from(b"user".to_vec());
					return (
						operator,
						RuntimeCall::UsageAttestation(Call::void_record {
							provider,
							seq: first_seq,
							reason,
						}),
					);
				}
				let count = self.rng.below(6).saturating_add(1);
				let entries = (0..count).map(|_| self.usage_entry(&provider, agents)).collect();
				(
					operator,
					Call::attest {
						provider,
						first_seq,
						entries: BoundedVec::truncate_from(entries),
					},
				)
			}
		};
		(who, RuntimeCall::UsageAttestation(call))
	}

	/// One record of usage with its user's latest voucher.
	fn usage_entry(
		&mut self,
		provider: &AccountId,
		agents: &[AgentView],
	) -> pallet_inference_credits::UsageEntryOf<Runtime> {
		// The user is an actor (signing its own voucher) or an agent (its controller signs).
		let (user, signer) = match self.rng.pick(agents).filter(|_| self.rng.chance(25)) {
			Some(view) => (
				view.agent.clone(),
				Sr25519Keyring::from_account_id(&view.controller).unwrap_or(Sr25519Keyring::Bob),
			),
			None => {
				let key = self.actor();
				(key.to_account_id(), key)
			}
		};
		// Mostly the user pays; sometimes another account (a delegating owner, or not).
		let payer = if self.rng.chance(90) { user.clone() } else { self.account() };
		let voucher = Voucher {
			genesis_hash: if self.rng.chance(95) { System::block_hash(0) } else { self.hash() },
			provider: if self.rng.chance(90) { provider.clone() } else { self.account() },
			user: if self.rng.chance(95) { user.clone() } else { self.account() },
			payer,
			cap: self.amount(),
			expiry: if self.rng.chance(85) {
				System::block_number().saturating_add(100)
			} else {
				self.block()
			},
			session: if self.rng.chance(70) { Some(self.hash().0) } else { None },
		};
		let key = if self.rng.chance(92) { signer } else { self.actor() };
		let payload = if self.rng.chance(80) {
			voucher.signing_payload()
		} else {
			voucher.wrapped_signing_payload()
		};
		let signature = MultiSignature::from(key.pair().sign(&payload));
		let tokens = |rng: &mut Rng| match rng.below(8) {
			0 => 0,
			1 => u32::MAX,
			_ => rng.below(50_000) as u32,
		};
		// Mostly served now; sometimes earlier (within or past the lateness bound) or later.
		let served_at = if self.rng.chance(80) { System::block_number() } else { self.block() };
		UsageEntry {
			user,
			model: self.model(),
			input_tokens: tokens(&mut self.rng),
			output_tokens: tokens(&mut self.rng),
			served_at,
			voucher: SignedVoucher { voucher, signature },
		}
	}

	/// A batch of up to four calls (batches nest once).
	fn batch(&mut self, depth: u32) -> RuntimeCall {
		let n = self.rng.below(4).saturating_add(1);
		let calls = (0..n)
			.map(|_| match self.rng.below(6) {
				0 if depth == 0 => self.batch(depth.saturating_add(1)),
				0 | 1 => self.balances_call(),
				2 => self.credits_call(),
				3 => self.staking_call(),
				4 => self.feedback_call(None),
				_ => RuntimeCall::System(frame_system::Call::remark { remark: self.bytes(8) }),
			})
			.collect();
		RuntimeCall::Utility(match self.rng.below(3) {
			0 => pallet_utility::Call::batch { calls },
			1 => pallet_utility::Call::batch_all { calls },
			_ => pallet_utility::Call::force_batch { calls },
		})
	}

	/// What sudo (Alice) does: tiers and periods of priority staking, the validator set.
	fn sudo_call(&mut self) -> RuntimeCall {
		let inner = match self.rng.below(4) {
			0 => {
				let n = self.rng.below(4);
				let mut min_stake: Balance = 0;
				let tiers = (0..n)
					.map(|_| {
						min_stake = min_stake.saturating_add(self.amount() / 100);
						TierInfo {
							min_stake,
							priority_weight: self.rng.below(100) as u32,
							rate_limit: self.rng.below(1_000) as u32,
							free_allowance: self.amount() / 1_000,
						}
					})
					.collect();
				RuntimeCall::PriorityStaking(pallet_priority_staking::Call::set_tiers {
					tiers: BoundedVec::truncate_from(tiers),
				})
			}
			1 => RuntimeCall::PriorityStaking(pallet_priority_staking::Call::set_params {
				params: StakingParams {
					warm_up: self.rng.below(20) as BlockNumber,
					unbonding_period: self.rng.below(40) as BlockNumber,
					epoch_length: self.rng.below(40) as BlockNumber,
				},
			}),
			2 => RuntimeCall::ValidatorSet(pallet_validator_set::Call::add_validator {
				who: self.actor().to_account_id(),
			}),
			_ => RuntimeCall::ValidatorSet(pallet_validator_set::Call::remove_validator {
				who: self.actor().to_account_id(),
			}),
		};
		RuntimeCall::Sudo(pallet_sudo::Call::sudo { call: Box::new(inner) })
	}
}

/// The agents on chain, with their pending payments.
fn agents() -> Vec<AgentView> {
	// A signed payment's fee is at most this (its length is below 256 bytes).
	let fee = pallet_agent_wallet::Pallet::<Runtime>::signed_payment_fee(256);
	Agents::<Runtime>::iter()
		.map(|(agent, record)| {
			let now = System::block_number();
			let (_, spent) = record.period_at(now);
			let policy = &record.policy;
			let funds = <Balances as fungible::Inspect<AccountId>>::reducible_balance(
				&agent,
				Preservation::Preserve,
				Fortitude::Polite,
			);
			let spends = !record.frozen && policy.expiry.is_none_or(|last| now <= last);
			let room = if !spends {
				0
			} else {
				policy
					.per_payment_cap
					.min(policy.cosign_threshold)
					.min(policy.period_cap.saturating_sub(spent).saturating_sub(fee))
					.min(funds.saturating_sub(fee))
			};
			AgentView {
				pending: PendingPayments::<Runtime>::iter_key_prefix(&agent).collect(),
				agent,
				owner: record.owner,
				controller: record.controller,
				next_payment_id: record.next_payment_id,
				payees: record.policy.payees.map(|payees| payees.into_inner()),
				room,
			}
		})
		.collect()
}

/// The score a validator gives a feedback in the fuzzer: the same at commit and reveal.
fn fuzz_score(feedback: u32, validator: &AccountId) -> u8 {
	let byte = <AccountId as AsRef<[u8]>>::as_ref(validator).first().copied().unwrap_or(0);
	((feedback.wrapping_mul(37).wrapping_add(u32::from(byte))) % 101) as u8
}
