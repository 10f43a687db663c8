//! The Tokenmeter node.

#![warn(missing_docs)]
// `sc_cli::Error`, which every subcommand returns, is a large enum of Substrate's; boxing it
// here would only move the allocation.
#![allow(clippy::result_large_err)]

mod chain_spec;
mod cli;
mod command;
mod rpc;
mod service;
mod usage_feed;

fn main() -> sc_cli::Result<()> {
	command::run()
}
