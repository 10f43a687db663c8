//! Chain specifications: `dev` (one validator), `local` (two) and `testnet` (three, with
//! bootnodes), all built from the runtime's genesis presets, with the token properties
//! wallets read.

use sc_service::{ChainType, Properties};
use tokenmeter_runtime::{SS58_FORMAT, TOKEN_DECIMALS, TOKEN_SYMBOL, WASM_BINARY};

/// The chain specification of a Tokenmeter network.
pub type ChainSpec = sc_service::GenericChainSpec;

/// The properties Polkadot.js and other wallets use to show balances and addresses.
pub fn token_properties() -> Properties {
	let mut properties = Properties::new();
	properties.insert("tokenSymbol".into(), TOKEN_SYMBOL.into());
	properties.insert("tokenDecimals".into(), TOKEN_DECIMALS.into());
	properties.insert("ss58Format".into(), SS58_FORMAT.into());
	properties
}

fn wasm_binary() -> Result<&'static [u8], String> {
	WASM_BINARY.ok_or_else(|| {
		"The runtime's wasm binary is not available: build without SKIP_WASM_BUILD.".to_string()
	})
}

/// A development chain: Alice validates alone and is sudo.
pub fn development_chain_spec() -> Result<ChainSpec, String> {
	Ok(ChainSpec::builder(wasm_binary()?, None)
		.with_name("Tokenmeter Development")
		.with_id("tokenmeter_dev")
		.with_protocol_id("tmt-dev")
		.with_chain_type(ChainType::Development)
		.with_genesis_config_preset_name(sp_genesis_builder::DEV_RUNTIME_PRESET)
		.with_properties(token_properties())
		.build())
}

/// A local testnet: Alice and Bob validate, Alice is sudo.
pub fn local_chain_spec() -> Result<ChainSpec, String> {
	Ok(ChainSpec::builder(wasm_binary()?, None)
		.with_name("Tokenmeter Local Testnet")
		.with_id("tokenmeter_local")
		.with_protocol_id("tmt-local")
		.with_chain_type(ChainType::Local)
		.with_genesis_config_preset_name(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET)
		.with_properties(token_properties())
		.build())
}

/// The testnet's bootnodes: its three validators on this machine, with peer ids that follow
/// from the well-known node keys `0x…01`, `0x…02` and `0x…03` (`--node-key`), test-only like
/// the validators' keys. See `docs/operators.md`.
pub const TESTNET_BOOTNODES: [&str; 3] = [
	"/ip4/127.0.0.1/tcp/30333/p2p/12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp",
	"/ip4/127.0.0.1/tcp/30334/p2p/12D3KooWHdiAxVd8uMQR1hGWXccidmfCwLqcMpGwR6QcTP6QRMuD",
	"/ip4/127.0.0.1/tcp/30335/p2p/12D3KooWSCufgHzV4fCwRijfH2k3abrpAJxTKxEvN1FDuRXA2U9x",
];

/// The testnet: Alice, Bob and Charlie validate, Alice is sudo and adds or removes
/// validators; nodes find each other through the bootnodes.
pub fn testnet_chain_spec() -> Result<ChainSpec, String> {
	let boot_nodes = TESTNET_BOOTNODES
		.iter()
		.map(|addr| addr.parse().map_err(|e| format!("bootnode {addr}: {e}")))
		.collect::<Result<Vec<_>, String>>()?;
	Ok(ChainSpec::builder(wasm_binary()?, None)
		.with_name("Tokenmeter Testnet")
		.with_id("tokenmeter_testnet")
		.with_protocol_id("tmt-test")
		// `Local`: nodes pass each other private addresses (127.0.0.1, 10.x, …) in discovery,
		// which a network on one machine or a LAN needs; a public deployment exports the spec
		// and sets `Live`.
		.with_chain_type(ChainType::Local)
		.with_genesis_config_preset_name(tokenmeter_runtime::genesis_config_presets::TESTNET_PRESET)
		.with_boot_nodes(boot_nodes)
		.with_properties(token_properties())
		.build())
}
