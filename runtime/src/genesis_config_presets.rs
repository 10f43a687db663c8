//! Genesis presets: `development` (one validator, Alice), `local_testnet` (Alice and Bob) and
//! `testnet` (Alice, Bob and Charlie), as JSON patches over the default genesis. Sudo is for
//! `development` and `local_testnet` only: the `testnet` has no sudo key, and what takes Root
//! there (the validator set, runtime upgrades) takes a referendum on the `root` track
//! (docs/governance.md).

use crate::{
	configs::inference_credits::RewardPoolAccount, opaque::SessionKeys, AccountId, Balance,
	BalancesConfig, BlockNumber, FeedbackRewardsConfig, PriorityStakingConfig,
	RuntimeGenesisConfig, SessionConfig, SudoConfig, ValidatorSetConfig, EXISTENTIAL_DEPOSIT, UNIT,
};
use alloc::{vec, vec::Vec};
use frame_support::build_struct_json_patch;
use pallet_feedback_rewards::EpochParams;
use pallet_priority_staking::{StakingParams, TierInfo};
use serde_json::Value;
use sp_consensus_aura::sr25519::AuthorityId as AuraId;
use sp_consensus_grandpa::AuthorityId as GrandpaId;
use sp_genesis_builder::{self, PresetId};
use sp_keyring::{Ed25519Keyring, Sr25519Keyring};

/// What each endowed development account starts with: one million TMT.
pub const ENDOWMENT: crate::Balance = 1_000_000 * UNIT;

/// The priority tiers of both presets.
pub fn priority_tiers() -> Vec<TierInfo<Balance>> {
	let tier = |min_stake, priority_weight, rate_limit, free_allowance| TierInfo {
		min_stake,
		priority_weight,
		rate_limit,
		free_allowance,
	};
	vec![
		tier(100 * UNIT, 1, 60, UNIT),
		tier(1_000 * UNIT, 5, 300, 10 * UNIT),
		tier(10_000 * UNIT, 20, 1_200, 100 * UNIT),
	]
}

/// Short staking periods for trying things out on a dev node: a 5-block (30 s) warm-up, a
/// 10-block (1 min) unbonding period and 100-block (10 min) epochs.
pub const DEV_STAKING_PARAMS: StakingParams<BlockNumber> =
	StakingParams { warm_up: 5, unbonding_period: 10, epoch_length: 100 };

/// Short feedback epochs for trying things out on a dev node: 8 blocks (48 s), scored for 6
/// blocks after (commitments for 3 more blocks, then 3 blocks of reveals).
pub const DEV_FEEDBACK_PARAMS: EpochParams<BlockNumber> =
	EpochParams { epoch_length: 8, scoring_window: 6 };

/// The name of the multi-validator testnet preset (`tokenmeter-node --chain testnet`).
pub const TESTNET_PRESET: &str = "testnet";

/// A validator at genesis: its account and session keys.
pub type GenesisValidator = (AccountId, AuraId, GrandpaId);

/// A genesis with the given validators, endowed accounts and sudo key (none: no sudo); `staking` and
/// `feedback` override the pallets' default periods. Aura and GRANDPA take their authorities
/// from the session pallet's keys.
fn tokenmeter_genesis(
	initial_authorities: Vec<GenesisValidator>,
	endowed_accounts: Vec<AccountId>,
	root: Option<AccountId>,
	staking: Option<StakingParams<BlockNumber>>,
	feedback: Option<EpochParams<BlockNumber>>,
) -> Value {
	build_struct_json_patch!(RuntimeGenesisConfig {
		balances: BalancesConfig {
			balances: endowed_accounts
				.iter()
				.cloned()
				.map(|account| (account, ENDOWMENT))
				// The reward pool must exist to receive fees smaller than the existential
				// deposit.
				.chain([(RewardPoolAccount::get(), EXISTENTIAL_DEPOSIT)])
				// So does the treasury (a killed referendum's deposit may be small).
				.chain([(crate::configs::governance::TreasuryAccount::get(), EXISTENTIAL_DEPOSIT)])
				.collect::<Vec<_>>(),
		},
		validator_set: ValidatorSetConfig {
			initial_validators: initial_authorities.iter().map(|x| x.0.clone()).collect::<Vec<_>>(),
		},
		session: SessionConfig {
			keys: initial_authorities
				.iter()
				.map(|(account, aura, grandpa)| {
					(
						account.clone(),
						account.clone(),
						SessionKeys { aura: aura.clone(), grandpa: grandpa.clone() },
					)
				})
				.collect::<Vec<_>>(),
		},
		sudo: SudoConfig { key: root },
		priority_staking: PriorityStakingConfig { tiers: priority_tiers(), params: staking },
		feedback_rewards: FeedbackRewardsConfig { params: feedback },
	})
}

/// The account and the Aura and GRANDPA keys of a well-known development validator (what
/// `--alice`, `--bob`, ... put in the node's keystore).
fn authority_keys(sr: Sr25519Keyring, ed: Ed25519Keyring) -> GenesisValidator {
	(sr.to_account_id(), sr.public().into(), ed.public().into())
}

/// One validator (Alice), the well-known accounts endowed, Alice as sudo, short staking
/// periods.
pub fn development_config_genesis() -> Value {
	tokenmeter_genesis(
		vec![authority_keys(Sr25519Keyring::Alice, Ed25519Keyring::Alice)],
		Sr25519Keyring::well_known().map(|k| k.to_account_id()).collect::<Vec<_>>(),
		Some(Sr25519Keyring::Alice.to_account_id()),
		Some(DEV_STAKING_PARAMS),
		Some(DEV_FEEDBACK_PARAMS),
	)
}

/// Two validators (Alice and Bob), the well-known accounts endowed, Alice as sudo, the
/// pallet's default staking periods (one-hour warm-up, one-day unbonding and epochs).
pub fn local_config_genesis() -> Value {
	tokenmeter_genesis(
		vec![
			authority_keys(Sr25519Keyring::Alice, Ed25519Keyring::Alice),
			authority_keys(Sr25519Keyring::Bob, Ed25519Keyring::Bob),
		],
		Sr25519Keyring::well_known().map(|k| k.to_account_id()).collect::<Vec<_>>(),
		Some(Sr25519Keyring::Alice.to_account_id()),
		None,
		None,
	)
}

/// Three validators (Alice, Bob and Charlie, whose well-known keys make it a test network
/// only), the well-known accounts endowed, no sudo key (Root takes a referendum), the pallets'
/// default periods.
pub fn testnet_config_genesis() -> Value {
	tokenmeter_genesis(
		vec![
			authority_keys(Sr25519Keyring::Alice, Ed25519Keyring::Alice),
			authority_keys(Sr25519Keyring::Bob, Ed25519Keyring::Bob),
			authority_keys(Sr25519Keyring::Charlie, Ed25519Keyring::Charlie),
		],
		Sr25519Keyring::well_known().map(|k| k.to_account_id()).collect::<Vec<_>>(),
		None,
		None,
		None,
	)
}

/// The JSON patch of the preset with the given id, if it exists.
pub fn get_preset(id: &PresetId) -> Option<Vec<u8>> {
	let patch = match id.as_ref() {
		sp_genesis_builder::DEV_RUNTIME_PRESET => development_config_genesis(),
		sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET => local_config_genesis(),
		TESTNET_PRESET => testnet_config_genesis(),
		_ => return None,
	};
	// Serialising a `serde_json::Value` cannot fail (no map keys other than strings).
	serde_json::to_string(&patch).ok().map(|json| json.into_bytes())
}

/// The ids of the presets this runtime provides.
pub fn preset_names() -> Vec<PresetId> {
	vec![
		PresetId::from(sp_genesis_builder::DEV_RUNTIME_PRESET),
		PresetId::from(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET),
		PresetId::from(TESTNET_PRESET),
	]
}
