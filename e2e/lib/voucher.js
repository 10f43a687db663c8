// Tokenmeter vouchers in JavaScript: the exact bytes the chain checks
// (`tokenmeter_primitives::voucher`), signed with a keypair or a browser wallet.
//
//   payload = "tokenmeter/voucher/v1" ++ SCALE(genesisHash: H256, provider: AccountId32,
//             user: AccountId32, payer: AccountId32, cap: u128, expiry: u32)
//
// A wallet's `signRaw` signs `<Bytes>` ++ payload ++ `</Bytes>`; the chain accepts that exact
// wrapping too.
import { decodeAddress } from '@polkadot/keyring';
import { bnToU8a, hexToU8a, stringToU8a, u8aConcat, u8aToHex, u8aWrapBytes } from '@polkadot/util';

export const VOUCHER_DOMAIN = 'tokenmeter/voucher/v1';

/// The bytes a voucher's signer signs. `voucher`: { genesisHash (hex), provider, user, payer
/// (SS58 or public keys; payer defaults to user), cap (bigint), expiry (block number) }.
export function voucherPayload({ genesisHash, provider, user, payer, cap, expiry }) {
  const genesis = typeof genesisHash === 'string' ? hexToU8a(genesisHash) : genesisHash.toU8a();
  if (genesis.length !== 32) throw new Error('genesisHash must be 32 bytes');
  return u8aConcat(
    stringToU8a(VOUCHER_DOMAIN),
    genesis,
    decodeAddress(provider),
    decodeAddress(user),
    decodeAddress(payer ?? user),
    bnToU8a(BigInt(cap), { bitLength: 128, isLe: true }),
    bnToU8a(Number(expiry), { bitLength: 32, isLe: true }),
  );
}

/// Signs `voucher` with a keyring pair; returns the signature as a SCALE `MultiSignature`
/// object ({ Sr25519 | Ed25519 | Ecdsa: hex }) for the chain's `SignedVoucher`.
export function signVoucher(pair, voucher) {
  const signature = u8aToHex(pair.sign(voucherPayload(voucher)));
  return { [schemeName(pair.type)]: signature };
}

/// Signs `voucher` with a browser wallet's `signRaw` (the Polkadot.js extension's
/// `injector.signer`), which signs the `<Bytes>…</Bytes>` wrapping. `address` is the signing
/// account, `type` its key type (the extension's accounts are sr25519 by default).
export async function signVoucherWithWallet(signer, address, voucher, type = 'sr25519') {
  const { signature } = await signer.signRaw({
    address,
    data: u8aToHex(voucherPayload(voucher)),
    type: 'bytes',
  });
  return { [schemeName(type)]: signature };
}

/// What a wallet signs for `voucher` (for checking a wallet's signature by hand).
export function wrappedVoucherPayload(voucher) {
  return u8aWrapBytes(voucherPayload(voucher));
}

function schemeName(type) {
  switch (type) {
    case 'sr25519': return 'Sr25519';
    case 'ed25519': return 'Ed25519';
    case 'ecdsa': case 'ethereum': return 'Ecdsa';
    default: throw new Error(`unknown key type ${type}`);
  }
}
