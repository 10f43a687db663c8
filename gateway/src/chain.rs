//! The chain as the gateway sees it: a JSON-RPC client of the provider's node and a view of
//! the state the gateway needs, refreshed once per new block.
//!
//! Per block the follower reads the provider's models (prices, pending prices, access rules),
//! the chain's `lastSeq` for the provider at the finalised head (what the operator node has
//! attested), and the block number. Per user, the first request in a block reads the access
//! report (`credits_canAccess`), the voucher ledger and whether the user is an agent (whose
//! controller signs); later requests in the same block use the cache.

use std::{
	collections::HashMap,
	sync::{Arc, Mutex},
	time::{Duration, Instant},
};

use codec::{Decode, Encode};
use futures::StreamExt;
use serde_json::{json, Value};
use sp_core::{crypto::Ss58Codec, H256};
use sp_crypto_hashing::{blake2_128, twox_128, twox_64};
use sp_runtime::AccountId32;

/// A chain read that failed.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
	/// The node did not answer.
	#[error("the node did not answer: {0}")]
	Unreachable(String),
	/// The node answered with an error or something unreadable.
	#[error("unexpected answer from the node: {0}")]
	Invalid(String),
}

/// Who may use a model (the credits pallet's `AccessRule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Decode, Encode)]
pub enum AccessRule {
	/// Anyone with credit.
	Open,
	/// At least this much TMT.
	MinBalance(u128),
	/// At least this tier.
	MinTier(u8),
	/// Both.
	MinBalanceAndTier(u128, u8),
}

impl AccessRule {
	/// The rule as JSON for `GET /v1/models`.
	pub fn to_json(self) -> Value {
		match self {
			AccessRule::Open => json!({ "open": null }),
			AccessRule::MinBalance(b) => json!({ "minBalance": b.to_string() }),
			AccessRule::MinTier(t) => json!({ "minTier": t }),
			AccessRule::MinBalanceAndTier(b, t) => {
				json!({ "minBalance": b.to_string(), "minTier": t })
			}
		}
	}
}

/// A model record as the chain stores it (`pallet_inference_credits::Model` of the runtime:
/// 32-byte accounts, 128-bit balances, 32-bit block numbers; the deposit ticket encodes as
/// the balance it holds).
#[derive(Debug, Clone, PartialEq, Eq, Decode)]
struct StoredModel {
	provider: [u8; 32],
	name: Vec<u8>,
	price_per_1k_input: u128,
	price_per_1k_output: u128,
	access: AccessRule,
	retired: bool,
	_deposit: u128,
	pending_price: Option<(u128, u128, u32)>,
}

/// A provider record (`pallet_inference_credits::Provider`).
#[derive(Debug, Clone, Decode)]
struct StoredProvider {
	_name: Vec<u8>,
	_endpoint: Vec<u8>,
	_bond: u128,
	models: Vec<u32>,
}

/// A (user, provider) voucher ledger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Decode)]
pub struct VoucherLedger {
	/// Everything settled so far.
	pub settled: u128,
	/// The highest cap settled against.
	pub cap: u128,
}

/// An owner's allowance for a delegate (`pallet_inference_credits::Delegation`: what is left
/// and the last block it may be used in; the deposit after them is not read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Decode)]
pub struct Delegation {
	/// What the delegate may still spend of the owner's credits.
	pub remaining: u128,
	/// The last block in which it may be settled.
	pub expiry: u32,
}

/// A model the provider serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
	/// Its on-chain id.
	pub id: u32,
	/// Its on-chain name.
	pub name: String,
	/// Prices per 1,000 input and output tokens in force at the view's block.
	pub prices: (u128, u128),
	/// A price increase announced: prices and first block.
	pub pending: Option<(u128, u128, u32)>,
	/// Who may use it.
	pub access: AccessRule,
	/// For a dynamically priced model (congestion pricing): how `prices` were made.
	pub dynamic: Option<DynamicPricing>,
}

/// A dynamically priced model's price at the view's block, from `credits_quote`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicPricing {
	/// The listed prices per 1,000 input and output tokens (before the multiplier).
	pub listed: (u128, u128),
	/// The multiplier in force, as a decimal string.
	pub multiplier: String,
	/// Utilisation so far this epoch, as a decimal string.
	pub utilisation: String,
	/// The first block of the next epoch.
	pub next_epoch_from: u32,
	/// The lowest prices per 1,000 input and output tokens the next epoch can have.
	pub next_min: (u128, u128),
	/// The highest prices the next epoch can have.
	pub next_max: (u128, u128),
}

/// The per-block view.
#[derive(Debug, Clone)]
pub struct ChainView {
	/// The best block's number.
	pub number: u32,
	/// The best block's hash.
	pub hash: H256,
	/// The provider's active models.
	pub models: Vec<ModelInfo>,
	/// The provider's last attested record at the finalised head.
	pub finalized_last_seq: u64,
	/// When the view was read.
	pub fetched: Instant,
}

impl ChainView {
	/// The model a request names: its on-chain name, or its id as a decimal string.
	pub fn model(&self, name: &str) -> Option<&ModelInfo> {
		self.models.iter().find(|m| m.name == name).or_else(|| {
			name.parse::<u32>().ok().and_then(|id| self.models.iter().find(|m| m.id == id))
		})
	}
}

/// What the chain says of a user at a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserState {
	/// `None` when allowed; else the reason (`balanceBelowGate`, ...), with what was required
	/// and found.
	pub denied: Option<(String, Option<String>, Option<String>)>,
	/// Credits available for new usage (not under a withdrawal notice).
	pub available_credit: u128,
	/// Free staking allowance left this epoch.
	pub free_allowance: u128,
	/// The user's tier.
	pub tier: u8,
	/// The voucher ledger with this provider.
	pub ledger: VoucherLedger,
	/// Who signs for the user: the user, or an agent's controller.
	pub signer: Option<AccountId32>,
	/// The tier's priority weight (0 without a tier): its share of the upstream when
	/// requests queue.
	pub priority_weight: u32,
	/// The tier's requests per minute (the chain's default without a tier).
	pub rate_limit: u32,
}

/// A JSON-RPC client of the node (HTTP).
#[derive(Clone)]
pub struct Node {
	http: reqwest::Client,
	url: String,
}

fn storage_prefix(pallet: &str, item: &str) -> Vec<u8> {
	let mut key = twox_128(pallet.as_bytes()).to_vec();
	key.extend(twox_128(item.as_bytes()));
	key
}

fn blake2_128_concat(data: &[u8]) -> Vec<u8> {
	let mut out = blake2_128(data).to_vec();
	out.extend_from_slice(data);
	out
}

fn to_hex(bytes: &[u8]) -> String {
	crate::payment::hex(bytes)
}

impl Node {
	/// A client of the node's HTTP JSON-RPC at `url` (e.g. `http://127.0.0.1:9944`).
	/// `https://` URLs are checked against the system's roots.
	pub fn new(url: &str) -> Self {
		Self::with_ca(url, None).unwrap_or_else(|_| Node {
			http: reqwest::Client::new(),
			url: url.trim_end_matches('/').to_string(),
		})
	}

	/// A client of the node at `url` that also trusts the certificate authority in the PEM
	/// file `ca` (for a node behind TLS with a private authority).
	pub fn with_ca(url: &str, ca: Option<&std::path::Path>) -> Result<Self, String> {
		let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(10));
		if let Some(path) = ca {
			let pem =
				std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
			let certificate = reqwest::Certificate::from_pem(&pem)
				.map_err(|e| format!("{}: not a PEM certificate: {e}", path.display()))?;
			builder = builder.add_root_certificate(certificate);
		}
		let http = builder.build().map_err(|e| format!("cannot build the node's client: {e}"))?;
		Ok(Node { http, url: url.trim_end_matches('/').to_string() })
	}

	/// Calls `method` with `params`.
	pub async fn call(&self, method: &str, params: Value) -> Result<Value, ChainError> {
		let request = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
		let answer: Value = self
			.http
			.post(&self.url)
			.json(&request)
			.send()
			.await
			.map_err(|e| ChainError::Unreachable(e.to_string()))?
			.json()
			.await
			.map_err(|e| ChainError::Invalid(e.to_string()))?;
		if let Some(error) = answer.get("error") {
			return Err(ChainError::Invalid(format!("{method}: {error}")));
		}
		Ok(answer.get("result").cloned().unwrap_or(Value::Null))
	}

	async fn hash(&self, method: &str, params: Value) -> Result<H256, ChainError> {
		let value = self.call(method, params).await?;
		value
			.as_str()
			.and_then(crate::payment::hex_decode)
			.filter(|b| b.len() == 32)
			.map(|b| H256::from_slice(&b))
			.ok_or_else(|| ChainError::Invalid(format!("{method}: not a hash: {value}")))
	}

	/// The genesis hash.
	pub async fn genesis(&self) -> Result<H256, ChainError> {
		self.hash("chain_getBlockHash", json!([0])).await
	}

	/// The best block: number and hash.
	pub async fn best(&self) -> Result<(u32, H256), ChainError> {
		let header = self.call("chain_getHeader", json!([])).await?;
		let number = header
			.get("number")
			.and_then(Value::as_str)
			.and_then(|n| u32::from_str_radix(n.trim_start_matches("0x"), 16).ok())
			.ok_or_else(|| ChainError::Invalid(format!("header without a number: {header}")))?;
		let hash = self.hash("chain_getBlockHash", json!([number])).await?;
		Ok((number, hash))
	}

	/// The finalised head.
	pub async fn finalized(&self) -> Result<H256, ChainError> {
		self.hash("chain_getFinalizedHead", json!([])).await
	}

	/// The hash of block `number`, if the node has it.
	pub async fn block_hash(&self, number: u32) -> Result<H256, ChainError> {
		self.hash("chain_getBlockHash", json!([number])).await
	}

	/// The number of block `hash`.
	pub async fn number(&self, hash: H256) -> Result<u32, ChainError> {
		let header = self.call("chain_getHeader", json!([to_hex(hash.as_bytes())])).await?;
		header
			.get("number")
			.and_then(Value::as_str)
			.and_then(|n| u32::from_str_radix(n.trim_start_matches("0x"), 16).ok())
			.ok_or_else(|| ChainError::Invalid(format!("header without a number: {header}")))
	}

	/// The runtime's `spec_version` at block `at`.
	pub async fn spec_version(&self, at: H256) -> Result<u32, ChainError> {
		let version = self.call("state_getRuntimeVersion", json!([to_hex(at.as_bytes())])).await?;
		version
			.get("specVersion")
			.and_then(Value::as_u64)
			.and_then(|v| u32::try_from(v).ok())
			.ok_or_else(|| ChainError::Invalid(format!("runtime version: {version}")))
	}

	/// The runtime's SCALE-encoded metadata at block `at`.
	pub async fn metadata(&self, at: H256) -> Result<Vec<u8>, ChainError> {
		let value = self.call("state_getMetadata", json!([to_hex(at.as_bytes())])).await?;
		value
			.as_str()
			.and_then(crate::payment::hex_decode)
			.ok_or_else(|| ChainError::Invalid("metadata not hex".into()))
	}

	/// The encoded `System::Events` of block `at`.
	pub async fn events(&self, at: H256) -> Result<Vec<u8>, ChainError> {
		Ok(self.storage(&storage_prefix("System", "Events"), at).await?.unwrap_or_default())
	}

	/// The raw value at `key` in block `at`.
	pub async fn storage(&self, key: &[u8], at: H256) -> Result<Option<Vec<u8>>, ChainError> {
		let value =
			self.call("state_getStorage", json!([to_hex(key), to_hex(at.as_bytes())])).await?;
		match value {
			Value::Null => Ok(None),
			Value::String(s) => crate::payment::hex_decode(&s)
				.map(Some)
				.ok_or_else(|| ChainError::Invalid("storage value not hex".into())),
			other => Err(ChainError::Invalid(format!("storage value: {other}"))),
		}
	}

	async fn decoded<T: Decode>(&self, key: &[u8], at: H256) -> Result<Option<T>, ChainError> {
		match self.storage(key, at).await? {
			None => Ok(None),
			Some(bytes) => T::decode(&mut &bytes[..])
				.map(Some)
				.map_err(|e| ChainError::Invalid(format!("cannot decode storage: {e}"))),
		}
	}

	/// The active models of `provider` at block `at`, with the prices in force at `number`.
	pub async fn models(
		&self,
		provider: &AccountId32,
		at: H256,
		number: u32,
	) -> Result<Vec<ModelInfo>, ChainError> {
		let mut key = storage_prefix("InferenceCredits", "Providers");
		key.extend(blake2_128_concat(provider.as_ref()));
		let Some(record) = self.decoded::<StoredProvider>(&key, at).await? else {
			return Ok(Vec::new());
		};
		let mut models = Vec::new();
		for id in record.models {
			let mut key = storage_prefix("InferenceCredits", "Models");
			key.extend(twox_64(&id.encode()));
			key.extend(id.encode());
			let Some(model) = self.decoded::<StoredModel>(&key, at).await? else { continue };
			if model.retired
				|| &model.provider != <AccountId32 as AsRef<[u8; 32]>>::as_ref(provider)
			{
				continue;
			}
			let listed = match model.pending_price {
				Some((input, output, from)) if from <= number => (input, output),
				_ => (model.price_per_1k_input, model.price_per_1k_output),
			};
			// The prices in force, multiplied for a dynamically priced model: what the chain
			// settles at this block.
			let (prices, dynamic) = self.effective_prices(id, listed, at).await?;
			models.push(ModelInfo {
				id,
				name: String::from_utf8_lossy(&model.name).into_owned(),
				prices,
				pending: model.pending_price.filter(|(_, _, from)| *from > number),
				access: model.access,
				dynamic,
			});
		}
		Ok(models)
	}

	/// `model`'s prices in force at block `at` (`credits_quote`), and how they were made when
	/// it is dynamically priced.
	async fn effective_prices(
		&self,
		model: u32,
		listed: (u128, u128),
		at: H256,
	) -> Result<((u128, u128), Option<DynamicPricing>), ChainError> {
		let at_hex = to_hex(at.as_bytes());
		let quote = |input: u32, output: u32| {
			self.call("credits_quote", json!([model, input, output, at_hex.clone()]))
		};
		let now = quote(0, 0).await?;
		if now.is_null() {
			return Ok((listed, None));
		}
		let amount = |v: &Value, field: &str| -> Result<u128, ChainError> {
			v.get(field)
				.and_then(Value::as_str)
				.and_then(|s| s.parse().ok())
				.ok_or_else(|| ChainError::Invalid(format!("credits_quote.{field}")))
		};
		let prices = (amount(&now, "pricePer1kInput")?, amount(&now, "pricePer1kOutput")?);
		let Some(dynamic) = now.get("dynamic").filter(|d| !d.is_null()) else {
			return Ok((prices, None));
		};
		let text = |field: &str| {
			dynamic.get(field).and_then(Value::as_str).unwrap_or_default().to_string()
		};
		// The next epoch's bounds per 1,000 tokens of each kind.
		let (input, output) = (quote(1000, 0).await?, quote(0, 1000).await?);
		let bound = |v: &Value, field: &str| {
			v.get("dynamic")
				.and_then(|d| d.get(field))
				.and_then(Value::as_str)
				.and_then(|s| s.parse::<u128>().ok())
				.ok_or_else(|| ChainError::Invalid(format!("credits_quote.dynamic.{field}")))
		};
		Ok((
			prices,
			Some(DynamicPricing {
				listed,
				multiplier: text("multiplier"),
				utilisation: text("utilisation"),
				next_epoch_from: dynamic
					.get("nextEpochFrom")
					.and_then(Value::as_u64)
					.and_then(|n| u32::try_from(n).ok())
					.unwrap_or_default(),
				next_min: (bound(&input, "nextMinCost")?, bound(&output, "nextMinCost")?),
				next_max: (bound(&input, "nextMaxCost")?, bound(&output, "nextMaxCost")?),
			}),
		))
	}

	/// The provider's last attested record at block `at`.
	pub async fn last_seq(&self, provider: &AccountId32, at: H256) -> Result<u64, ChainError> {
		let mut key = storage_prefix("UsageAttestation", "LastSeq");
		key.extend(blake2_128_concat(provider.as_ref()));
		Ok(self.decoded::<u64>(&key, at).await?.unwrap_or(0))
	}

	/// The allowance `owner` gave `delegate`, if any, at block `at`.
	pub async fn delegation(
		&self,
		owner: &AccountId32,
		delegate: &AccountId32,
		at: H256,
	) -> Result<Option<Delegation>, ChainError> {
		let mut key = storage_prefix("InferenceCredits", "Delegations");
		key.extend(blake2_128_concat(owner.as_ref()));
		key.extend(blake2_128_concat(delegate.as_ref()));
		self.decoded::<Delegation>(&key, at).await
	}

	/// The voucher ledger of (`user`, `provider`) at block `at`.
	pub async fn ledger(
		&self,
		user: &AccountId32,
		provider: &AccountId32,
		at: H256,
	) -> Result<VoucherLedger, ChainError> {
		let mut key = storage_prefix("InferenceCredits", "VoucherLedgers");
		key.extend(blake2_128_concat(user.as_ref()));
		key.extend(blake2_128_concat(provider.as_ref()));
		Ok(self.decoded::<VoucherLedger>(&key, at).await?.unwrap_or_default())
	}

	/// Everything the gateway needs about `user` for `model` at block `at`.
	pub async fn user_state(
		&self,
		user: &AccountId32,
		provider: &AccountId32,
		model: u32,
		at: H256,
		number: u32,
	) -> Result<UserState, ChainError> {
		let ss58 = user.to_ss58check();
		let at_hex = to_hex(at.as_bytes());
		let access =
			self.call("credits_canAccess", json!([ss58, model, 0, 0, at_hex.clone()])).await?;
		let number_of = |field: &str| -> Result<u128, ChainError> {
			access
				.get(field)
				.and_then(Value::as_str)
				.and_then(|s| s.parse().ok())
				.ok_or_else(|| ChainError::Invalid(format!("credits_canAccess.{field}")))
		};
		let text = |field: &str| access.get(field).and_then(Value::as_str).map(str::to_string);
		// Only the gate decides here; the gateway checks credits against its own reservations.
		let denied = match text("reason").as_deref() {
			Some(
				reason @ ("balanceBelowGate" | "tierBelowGate" | "unknownModel" | "modelRetired"),
			) => Some((reason.to_string(), text("required"), text("actual"))),
			_ => None,
		};
		let agent = self.call("agentWallet_agent", json!([ss58, at_hex])).await?;
		let signer = if agent.is_null() {
			Some(user.clone())
		} else {
			let frozen = agent.get("frozen").and_then(Value::as_bool).unwrap_or(false);
			let expired = agent.get("expired").and_then(Value::as_bool).unwrap_or(false)
				|| agent
					.get("expiry")
					.and_then(Value::as_u64)
					.is_some_and(|expiry| expiry < u64::from(number));
			let payees_ok = match agent.get("payees") {
				Some(Value::Array(payees)) => {
					payees.iter().any(|p| p.as_str() == Some(&provider.to_ss58check()))
				}
				_ => true,
			};
			let controller = agent
				.get("controller")
				.and_then(Value::as_str)
				.and_then(|c| AccountId32::from_ss58check(c).ok());
			controller.filter(|_| !frozen && !expired && payees_ok)
		};
		// The tier as of this block: stake that warmed up or was unstaked in it counts now.
		let priority = self.call("priority_of", json!([ss58, at_hex])).await?;
		let priority_field = |field: &str| {
			priority
				.get(field)
				.and_then(Value::as_u64)
				.and_then(|v| u32::try_from(v).ok())
				.ok_or_else(|| ChainError::Invalid(format!("priority_of.{field}")))
		};
		let (priority_weight, rate_limit) =
			(priority_field("priorityWeight")?, priority_field("rateLimit")?);
		Ok(UserState {
			denied,
			priority_weight,
			rate_limit,
			available_credit: number_of("availableCredit")?,
			free_allowance: number_of("freeAllowance")?,
			tier: access.get("tier").and_then(Value::as_u64).unwrap_or(0) as u8,
			ledger: self.ledger(user, provider, at).await?,
			signer,
		})
	}
}

/// Users' states read from the node for a request (each a few calls; not the prefetch of a
/// new block), since start: what requests cost the node. Exported as a metric.
pub static USER_STATE_READS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The shared view and per-user cache, refreshed by [`follow`].
#[derive(Default)]
pub struct Cache {
	view: Mutex<Option<Arc<ChainView>>>,
	users: Mutex<HashMap<(H256, AccountId32, u32), UserState>>,
	delegations: Mutex<HashMap<(H256, AccountId32, AccountId32), Option<Delegation>>>,
}

impl Cache {
	/// The current view, if one was read.
	pub fn view(&self) -> Option<Arc<ChainView>> {
		self.view.lock().ok().and_then(|v| v.clone())
	}

	/// Replaces the view (a new block) and forgets the per-user cache of older blocks.
	pub fn set_view(&self, view: ChainView) {
		if let Ok(mut users) = self.users.lock() {
			users.retain(|(hash, _, _), _| *hash == view.hash);
		}
		if let Ok(mut delegations) = self.delegations.lock() {
			delegations.retain(|(hash, _, _), _| *hash == view.hash);
		}
		if let Ok(mut current) = self.view.lock() {
			*current = Some(Arc::new(view));
		}
	}

	/// The allowance `owner` gave `delegate` at the view's block, read once per block.
	pub async fn delegation(
		&self,
		node: &Node,
		view: &ChainView,
		owner: &AccountId32,
		delegate: &AccountId32,
	) -> Result<Option<Delegation>, ChainError> {
		let key = (view.hash, owner.clone(), delegate.clone());
		if let Some(found) = self.delegations.lock().ok().and_then(|d| d.get(&key).copied()) {
			return Ok(found);
		}
		USER_STATE_READS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
		let found = node.delegation(owner, delegate, view.hash).await?;
		if let Ok(mut delegations) = self.delegations.lock() {
			if delegations.len() < MAX_CACHED_USERS {
				delegations.insert(key, found);
			}
		}
		Ok(found)
	}

	/// Sets the allowance `owner` gave `delegate` at `view`'s block, as if read from the node.
	pub fn prime_delegation(
		&self,
		view: &ChainView,
		owner: &AccountId32,
		delegate: &AccountId32,
		delegation: Option<Delegation>,
	) {
		if let Ok(mut delegations) = self.delegations.lock() {
			delegations.insert((view.hash, owner.clone(), delegate.clone()), delegation);
		}
	}

	/// Sets `user`'s state for `model` at `view`'s block, as if read from the node (for tests
	/// of the request path without a node).
	pub fn prime(&self, view: &ChainView, user: &AccountId32, model: u32, state: UserState) {
		if let Ok(mut users) = self.users.lock() {
			users.insert((view.hash, user.clone(), model), state);
		}
	}

	/// `user`'s state for `model` at the view's block, read once per block.
	pub async fn user_state(
		&self,
		node: &Node,
		provider: &AccountId32,
		view: &ChainView,
		user: &AccountId32,
		model: u32,
	) -> Result<UserState, ChainError> {
		let key = (view.hash, user.clone(), model);
		if let Some(state) = self.users.lock().ok().and_then(|u| u.get(&key).cloned()) {
			return Ok(state);
		}
		USER_STATE_READS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
		let state = node.user_state(user, provider, model, view.hash, view.number).await?;
		if let Ok(mut users) = self.users.lock() {
			// Bounded: beyond `MAX_CACHED_USERS` a user's state is read on each request.
			if users.len() < MAX_CACHED_USERS {
				users.insert(key, state.clone());
			}
		}
		Ok(state)
	}
}

/// Reads the view of a new best block (or nothing when the best block did not change).
pub async fn refresh(
	node: &Node,
	provider: &AccountId32,
	cache: &Cache,
) -> Result<Option<ChainView>, ChainError> {
	let (number, hash) = node.best().await?;
	if cache.view().is_some_and(|v| v.hash == hash) {
		if let Ok(mut view) = cache.view.lock() {
			if let Some(view) = view.as_mut() {
				Arc::make_mut(view).fetched = Instant::now();
			}
		}
		return Ok(None);
	}
	let models = node.models(provider, hash, number).await?;
	let finalized = node.finalized().await?;
	let finalized_last_seq = node.last_seq(provider, finalized).await?;
	let view = ChainView { number, hash, models, finalized_last_seq, fetched: Instant::now() };
	prefetch(node, provider, cache, &view).await;
	cache.set_view(view.clone());
	Ok(Some(view))
}

/// Users (with a model) whose state is kept per block, at most. Only tokens whose signature
/// is good reach the cache.
pub const MAX_CACHED_USERS: usize = 1 << 16;

/// Users whose state is read for a new block before it is served, at most.
pub const PREFETCH_USERS: usize = 4096;

/// Reads, at `view`'s block, the state of the users served at the current one (up to
/// [`PREFETCH_USERS`]), so that their requests in the new block wait for no chain round trip
/// (requests are served from the current block until it is done). A user whose state cannot be
/// read now is read on its next request.
async fn prefetch(node: &Node, provider: &AccountId32, cache: &Cache, view: &ChainView) {
	let Some(current) = cache.view() else { return };
	let active: Vec<(AccountId32, u32)> = match cache.users.lock() {
		Ok(users) => users
			.keys()
			.filter(|(hash, _, _)| *hash == current.hash)
			.map(|(_, user, model)| (user.clone(), *model))
			.take(PREFETCH_USERS)
			.collect(),
		Err(_) => return,
	};
	let states: Vec<_> = futures::stream::iter(active)
		.map(|(user, model)| async move {
			let state = node.user_state(&user, provider, model, view.hash, view.number).await;
			(user, model, state)
		})
		.buffer_unordered(16)
		.collect()
		.await;
	if let Ok(mut users) = cache.users.lock() {
		for (user, model, state) in states {
			if let Ok(state) = state {
				users.insert((view.hash, user, model), state);
			}
		}
	}
}

/// Follows the chain: refreshes the view every `interval`, calling `on_view` with each new
/// one; logs (and keeps the old view) while the node is unreachable.
pub async fn follow(
	node: Node,
	provider: AccountId32,
	cache: Arc<Cache>,
	interval: Duration,
	on_view: impl Fn(&ChainView) + Send + 'static,
) {
	let mut ticker = tokio::time::interval(interval);
	ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
	loop {
		ticker.tick().await;
		match refresh(&node, &provider, &cache).await {
			Ok(Some(view)) => on_view(&view),
			Ok(None) => {}
			Err(error) => {
				tracing::warn!(%error, "cannot read the chain; serving from the cached view")
			}
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn a_stored_model_decodes_from_the_runtime_layout() {
		// provider, name, prices, access MinBalance(5), retired, deposit, pending price.
		let mut bytes = [7u8; 32].to_vec();
		bytes.extend(b"llm".to_vec().encode());
		bytes.extend(2_000u128.encode());
		bytes.extend(4_000u128.encode());
		bytes.extend([1u8]);
		bytes.extend(5u128.encode());
		bytes.extend([0u8]);
		bytes.extend(9u128.encode());
		bytes.extend(Some((3_000u128, 4_000u128, 50u32)).encode());
		let model = StoredModel::decode(&mut &bytes[..]).unwrap();
		assert_eq!(model.name, b"llm");
		assert_eq!(model.access, AccessRule::MinBalance(5));
		assert_eq!(model.pending_price, Some((3_000, 4_000, 50)));
	}

	#[test]
	fn storage_keys_follow_frame() {
		// `System::Number`: twox128("System") ++ twox128("Number").
		assert_eq!(
			to_hex(&storage_prefix("System", "Number")),
			"0x26aa394eea5630e07c48ae0c9558cef702a5c1b19ab7a04f536c519aca4983ac"
		);
	}
}
