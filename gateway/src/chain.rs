//! The chain as the gateway sees it: a JSON-RPC client of the provider's node and a view of
//! the state the gateway needs, refreshed once per new block.
//!
//! Every read goes through the runtime's `GatewayApi` (defined in
//! [`tokenmeter_primitives::gateway`]) with one `state_call` per question, so the gateway
//! copies no storage layout and applies the chain's own rules. Per block the follower reads
//! the provider's models (prices in force, pending prices, access rules, dynamic pricing), the
//! provider's last attested record at the finalised head, and the block number. Per user, the
//! first request in a block reads the user's view (gate, credits, voucher ledger, who signs,
//! priority); later requests in the same block use the cache.

use std::{
	collections::HashMap,
	sync::{Arc, Mutex},
	time::{Duration, Instant},
};

use codec::{Decode, Encode};
use futures::StreamExt;
use serde_json::{json, Value};
use sp_core::H256;
use sp_crypto_hashing::twox_128;
use sp_runtime::AccountId32;
use tokenmeter_primitives::gateway::{decimal, DelegationView, GateRefusal, ModelView, UserView};

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

/// Who may use a model (the credits pallet's rule, at the runtime's balance type).
pub type AccessRule = tokenmeter_primitives::AccessRule<u128>;

/// An access rule as JSON for `GET /v1/models`.
pub fn access_json(rule: AccessRule) -> Value {
	match rule {
		AccessRule::Open => json!({ "open": null }),
		AccessRule::MinBalance(b) => json!({ "minBalance": b.to_string() }),
		AccessRule::MinTier(t) => json!({ "minTier": t }),
		AccessRule::MinBalanceAndTier(b, t) => {
			json!({ "minBalance": b.to_string(), "minTier": t })
		}
	}
}

/// A (user, provider) voucher ledger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VoucherLedger {
	/// Everything settled so far.
	pub settled: u128,
	/// The highest cap settled against.
	pub cap: u128,
}

/// An owner's allowance for a delegate: what is left and the last block it may be used in.
pub type Delegation = DelegationView<u128, u32>;

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

	/// Calls the runtime's `GatewayApi_<method>` with `args` at block `at`.
	async fn gateway_api<R: Decode>(
		&self,
		method: &str,
		args: impl Encode,
		at: H256,
	) -> Result<R, ChainError> {
		let name = format!("GatewayApi_{method}");
		let value = self
			.call("state_call", json!([name, to_hex(&args.encode()), to_hex(at.as_bytes())]))
			.await?;
		let bytes = value
			.as_str()
			.and_then(crate::payment::hex_decode)
			.ok_or_else(|| ChainError::Invalid(format!("{name}: not hex: {value}")))?;
		R::decode(&mut &bytes[..]).map_err(|e| ChainError::Invalid(format!("{name}: {e}")))
	}

	/// The active models of `provider` at block `at`, with the prices in force there.
	pub async fn models(
		&self,
		provider: &AccountId32,
		at: H256,
	) -> Result<Vec<ModelInfo>, ChainError> {
		let views: Vec<ModelView<u128, u32>> =
			self.gateway_api("provider_models", provider, at).await?;
		Ok(views.into_iter().map(ModelInfo::from).collect())
	}

	/// The provider's last attested record at block `at`.
	pub async fn last_seq(&self, provider: &AccountId32, at: H256) -> Result<u64, ChainError> {
		self.gateway_api("last_seq", provider, at).await
	}

	/// The allowance `owner` gave `delegate`, if any, at block `at`.
	pub async fn delegation(
		&self,
		owner: &AccountId32,
		delegate: &AccountId32,
		at: H256,
	) -> Result<Option<Delegation>, ChainError> {
		self.gateway_api("delegation", (owner, delegate), at).await
	}

	/// The voucher ledger of (`user`, `provider`) at block `at` (from the user's view, which
	/// carries it whatever the model).
	pub async fn ledger(
		&self,
		user: &AccountId32,
		provider: &AccountId32,
		at: H256,
	) -> Result<VoucherLedger, ChainError> {
		Ok(self.user_state(user, provider, 0, at).await?.ledger)
	}

	/// Everything the gateway needs about `user` for `model` at block `at`: one call.
	pub async fn user_state(
		&self,
		user: &AccountId32,
		provider: &AccountId32,
		model: u32,
		at: H256,
	) -> Result<UserState, ChainError> {
		let view: UserView<AccountId32, u128> =
			self.gateway_api("user_view", (user, provider, model), at).await?;
		Ok(UserState::from(view))
	}
}

impl From<ModelView<u128, u32>> for ModelInfo {
	fn from(view: ModelView<u128, u32>) -> Self {
		ModelInfo {
			id: view.id,
			name: String::from_utf8_lossy(&view.name).into_owned(),
			prices: view.prices,
			pending: view.pending,
			access: view.access,
			dynamic: view.dynamic.map(|d| DynamicPricing {
				listed: view.listed,
				multiplier: decimal(d.multiplier),
				utilisation: decimal(d.utilisation),
				next_epoch_from: d.next_epoch_from,
				next_min: d.next_min,
				next_max: d.next_max,
			}),
		}
	}
}

impl From<UserView<AccountId32, u128>> for UserState {
	fn from(view: UserView<AccountId32, u128>) -> Self {
		let denied = view.refused.map(|refusal| match refusal {
			GateRefusal::UnknownModel => ("unknownModel".to_string(), None, None),
			GateRefusal::ModelRetired => ("modelRetired".to_string(), None, None),
			GateRefusal::BalanceBelowGate { required, held } => {
				("balanceBelowGate".to_string(), Some(required.to_string()), Some(held.to_string()))
			}
			GateRefusal::TierBelowGate { required, tier } => {
				("tierBelowGate".to_string(), Some(required.to_string()), Some(tier.to_string()))
			}
		});
		UserState {
			denied,
			available_credit: view.available_credit,
			free_allowance: view.free_allowance,
			tier: view.tier,
			ledger: VoucherLedger { settled: view.settled, cap: view.cap },
			signer: view.signer,
			priority_weight: view.priority_weight,
			rate_limit: view.rate_limit,
		}
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
		// Boxed, as a read of the node is a large future and this path a rare one.
		let found = Box::pin(node.delegation(owner, delegate, view.hash)).await?;
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
		// Boxed, as a read of the node is a large future and this path a rare one.
		let state = Box::pin(node.user_state(user, provider, model, view.hash)).await?;
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
	let models = node.models(provider, hash).await?;
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
			let state = node.user_state(&user, provider, model, view.hash).await;
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
	fn a_gate_refusal_keeps_what_was_required_and_found() {
		let view = UserView::<AccountId32, u128> {
			refused: Some(GateRefusal::TierBelowGate { required: 2, tier: 1 }),
			available_credit: 5,
			free_allowance: 1,
			tier: 1,
			settled: 3,
			cap: 9,
			signer: None,
			priority_weight: 0,
			rate_limit: 60,
		};
		let state = UserState::from(view);
		assert_eq!(
			state.denied,
			Some(("tierBelowGate".into(), Some("2".into()), Some("1".into())))
		);
		assert_eq!(state.ledger, VoucherLedger { settled: 3, cap: 9 });
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
