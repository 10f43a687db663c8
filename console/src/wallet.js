// Accounts: a browser wallet's (the Polkadot.js extension, Talisman, SubWallet — they all
// inject `window.injectedWeb3` with the same interface), and on a development chain also the
// well-known development keys.

import { web3Accounts, web3Enable, web3FromSource } from '@polkadot/extension-dapp';
import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady } from '@polkadot/util-crypto';

export const DEV_NAMES = ['Alice', 'Bob', 'Charlie', 'Dave', 'Eve', 'Ferdie'];

/** The wallets' accounts: `[{ address, name, source, signer }]`; `[]` without a wallet. */
export async function walletAccounts(genesisHash) {
  const extensions = await web3Enable('Tokenmeter console');
  if (extensions.length === 0) return [];
  const accounts = await web3Accounts({ ss58Format: 42 });
  const signers = new Map();
  for (const extension of extensions) signers.set(extension.name, extension.signer);
  return accounts
    // An account a wallet keeps for another chain is not offered.
    .filter((a) => !a.meta.genesisHash || a.meta.genesisHash === genesisHash)
    .map((a) => ({
      address: a.address,
      name: a.meta.name ?? a.address.slice(0, 8),
      source: a.meta.source,
      type: a.type ?? 'sr25519',
      signer: signers.get(a.meta.source),
    }));
}

/** The signer of a wallet account (again, if the wallet was reloaded). */
export async function walletSigner(source) {
  return (await web3FromSource(source)).signer;
}

/** The development keys (`//Alice`…), only for development chains. */
export async function devAccounts() {
  await cryptoWaitReady();
  const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  return DEV_NAMES.map((name) => {
    const pair = keyring.addFromUri(`//${name}`);
    return { address: pair.address, name: `${name} (development key)`, source: 'dev', type: 'sr25519', pair };
  });
}
