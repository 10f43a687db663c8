// @tokenmeter/client: pay a Tokenmeter gateway with vouchers, in Node and in browsers.
//
// A voucher authorises one provider to charge one user's ledger up to a cumulative cap. The
// bytes signed are exactly the chain's (`tokenmeter_primitives::voucher`):
//
//   "tokenmeter/voucher/v1" ++ SCALE(genesisHash, provider, user, payer, cap: u128, expiry: u32)
//
// and browser wallets (the Polkadot.js extension's `signRaw`) sign them wrapped in
// `<Bytes>…</Bytes>`, which the chain and the gateway accept too.
//
// The gateway speaks x402 v2: a request without enough voucher gets `402` with a base64 JSON
// `PAYMENT-REQUIRED` header naming the cumulative cap it needs; `wrapFetch` signs a voucher
// for that cap plus a budget step and retries with `PAYMENT-SIGNATURE`. The same token works
// as an OpenAI API key (`Authorization: Bearer <token>`) until its cap is used up.

import { decodeAddress, encodeAddress } from '@polkadot/keyring';
import { bnToU8a, hexToU8a, stringToU8a, u8aConcat, u8aToHex, u8aWrapBytes } from '@polkadot/util';

export const VOUCHER_DOMAIN = 'tokenmeter/voucher/v1';
export const SCHEME = 'tokenmeter-voucher';

const toBase64 = (text) => (typeof Buffer !== 'undefined'
  ? Buffer.from(text, 'utf8').toString('base64')
  : btoa(String.fromCharCode(...new TextEncoder().encode(text))));
const fromBase64 = (b64) => (typeof Buffer !== 'undefined'
  ? Buffer.from(b64, 'base64').toString('utf8')
  : new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))));

/** The bytes a voucher's signer signs. */
export function voucherPayload({ genesisHash, provider, user, payer, cap, expiry }) {
  const genesis = typeof genesisHash === 'string' ? hexToU8a(genesisHash) : genesisHash;
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

const SCHEME_BYTE = { sr25519: 1, ed25519: 0, ecdsa: 2, ethereum: 2 };

/** A signature as a SCALE `MultiSignature`, hex: the scheme byte, then the signature. */
function multiSignature(type, signature) {
  const byte = SCHEME_BYTE[type];
  if (byte === undefined) throw new Error(`unknown key type ${type}`);
  const raw = typeof signature === 'string' ? hexToU8a(signature) : signature;
  return u8aToHex(u8aConcat(new Uint8Array([byte]), raw));
}

/** Signs `voucher` with a keyring pair; returns `{ voucher, signature }`. */
export function signVoucher(pair, voucher) {
  const full = { ...voucher, user: voucher.user ?? pair.address, payer: voucher.payer ?? voucher.user ?? pair.address };
  return { voucher: full, signature: multiSignature(pair.type, pair.sign(voucherPayload(full))) };
}

/**
 * Signs `voucher` with a browser wallet's `signRaw` (the Polkadot.js extension's
 * `injector.signer`), which signs `<Bytes>payload</Bytes>`.
 */
export async function signVoucherWithWallet(signer, address, voucher, type = 'sr25519') {
  const full = { ...voucher, user: voucher.user ?? address, payer: voucher.payer ?? voucher.user ?? address };
  const { signature } = await signer.signRaw({ address, data: u8aToHex(voucherPayload(full)), type: 'bytes' });
  return { voucher: full, signature: multiSignature(type, signature) };
}

/** What a wallet signs for `voucher`. */
export function wrappedVoucherPayload(voucher) {
  return u8aWrapBytes(voucherPayload(voucher));
}

/** The CAIP-2 style network id of a chain. */
export function networkId(genesisHash) {
  return `tokenmeter:${genesisHash.replace(/^0x/, '').slice(0, 32)}`;
}

/** The `PAYMENT-SIGNATURE` value (and OpenAI API key) of a signed voucher. */
export function paymentToken({ voucher, signature }) {
  const v = {
    genesisHash: typeof voucher.genesisHash === 'string' ? voucher.genesisHash : u8aToHex(voucher.genesisHash),
    provider: encodeAddress(decodeAddress(voucher.provider), 42),
    user: encodeAddress(decodeAddress(voucher.user), 42),
    payer: encodeAddress(decodeAddress(voucher.payer ?? voucher.user), 42),
    cap: BigInt(voucher.cap).toString(),
    expiry: Number(voucher.expiry),
  };
  return toBase64(JSON.stringify({
    x402Version: 2,
    accepted: { scheme: SCHEME, network: networkId(v.genesisHash), amount: v.cap, asset: 'TMT', payTo: v.provider },
    payload: { voucher: v, signature },
  }));
}

/** Decodes a base64 JSON header (`PAYMENT-REQUIRED`, `PAYMENT-RESPONSE`). */
export function decodeHeader(value) {
  return value ? JSON.parse(fromBase64(value)) : null;
}

/**
 * A payer that signs vouchers as a gateway asks for them.
 * - `pair` (a keyring pair) or `signer` + `address` (+ `type`) of a browser wallet;
 * - `budget`: how much to raise the cap beyond what the gateway asks for, each time (smallest
 *   unit, bigint), so that not every request needs a new signature;
 * - `maxCap`: never sign a cumulative cap above this (bigint; default: no limit);
 * - `user` (an agent whose controller signs) and `payer` (an owner who delegated);
 * - `validityBlocks`: how long past the gateway's minimum expiry a voucher lasts.
 */
export function createPayer({ pair, signer, address, type, budget = 0n, maxCap, user, payer, validityBlocks = 14_400 }) {
  let token = null;
  let cap = 0n;
  return {
    /** The current token, if any. */
    get token() { return token; },
    /** The cap of the current token. */
    get cap() { return cap; },
    /** Signs a voucher for what a `PAYMENT-REQUIRED` requirement asks; returns the token. */
    async pay(requirement) {
      const accepted = requirement.accepts.find((a) => a.scheme === SCHEME);
      if (!accepted) throw new Error('the gateway offers no tokenmeter-voucher payment');
      const needed = BigInt(accepted.amount);
      const next = needed + BigInt(budget);
      const capToSign = maxCap !== undefined && next > BigInt(maxCap) ? BigInt(maxCap) : next;
      if (capToSign < needed) throw new Error(`the gateway needs a cap of ${needed}, above the budget's ${maxCap}`);
      const voucher = {
        genesisHash: accepted.extra.genesisHash,
        provider: accepted.payTo,
        user,
        payer,
        cap: capToSign,
        expiry: Number(accepted.extra.minExpiry) + validityBlocks,
      };
      const signed = pair ? signVoucher(pair, voucher) : await signVoucherWithWallet(signer, address, voucher, type);
      token = paymentToken(signed);
      cap = capToSign;
      return token;
    },
  };
}

/**
 * Wraps `fetch` so that a `402` from a Tokenmeter gateway is paid by `payer` and the request
 * retried once with `PAYMENT-SIGNATURE`; later requests send the current token up front.
 * Works as the `fetch` option of the `openai` SDK.
 */
export function wrapFetch(fetchImpl, payer) {
  return async (input, init = {}) => {
    const withToken = (token) => {
      const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
      if (token) headers.set('PAYMENT-SIGNATURE', token);
      return { ...init, headers };
    };
    // A body that is a stream cannot be sent twice; requests of the openai SDK are strings.
    let response = await fetchImpl(input, withToken(payer.token));
    // The first 402 may not know the user yet (no voucher sent): it asks for this request's
    // cost alone, and the second names the cumulative cap. Pay at most twice.
    for (let attempt = 0; attempt < 2 && response.status === 402; attempt += 1) {
      const requirement = decodeHeader(response.headers.get('payment-required'));
      const accepted = requirement?.accepts?.find((a) => a.scheme === SCHEME);
      if (!accepted) return response;
      // Nothing more to sign if the current cap already covers what is asked: the 402 is
      // about something else (credits, an expired voucher is re-signed below).
      const error = await response.clone().json().then((b) => b?.error?.code, () => undefined);
      if (payer.cap >= BigInt(accepted.amount) && error !== 'voucher_expired') return response;
      await payer.pay(requirement);
      response = await fetchImpl(input, withToken(payer.token));
    }
    return response;
  };
}

/** The expiry of the voucher in a payment token. */
const expiryOf = (token) => (token ? Number(decodeHeader(token).payload.voucher.expiry) : 0);

/**
 * The Tokenmeter voucher scheme as an x402 `SchemeNetworkClient`, for `@x402/core`'s
 * `x402Client` and so `@x402/fetch`'s `wrapFetchWithPayment` (takes the options of
 * `createPayer`):
 *
 *   const client = new x402Client()
 *     .register('tokenmeter:*', tokenmeterScheme({ pair, budget: 10n ** 12n }))
 *     .setSpendControls({ allowedAssets: [{ network: 'tokenmeter:*', asset: 'TMT', maxAmountPerPayment: '...' }] });
 *   const fetchWithPay = wrapFetchWithPayment(fetch, client);
 *
 * x402 pays each request on its own: a 402, then the request again with `PAYMENT-SIGNATURE`.
 * A voucher is cumulative, so the scheme signs a new one only when the gateway asks for more
 * than the current cap (or a later expiry), and raises the cap by `budget` each time. The
 * first 402 of a request without a voucher cannot know what the user already owes the
 * provider; when the paid retry answers 402 with the cumulative cap, the scheme's
 * `onPaymentResponse` hook asks x402 to recover, and the next payload covers that cap.
 * `maxAmountPerPayment` in spend controls applies to the cumulative cap.
 */
export function tokenmeterScheme(options) {
  const payer = createPayer(options);
  let needed = 0n;
  let minExpiry = 0;
  const max = (a, b) => (a > b ? a : b);
  return {
    scheme: SCHEME,
    async createPaymentPayload(x402Version, requirements) {
      const ask = max(BigInt(requirements.amount), needed);
      const expiry = Math.max(Number(requirements.extra?.minExpiry ?? 0), minExpiry);
      if (payer.cap < ask || expiryOf(payer.token) < expiry) {
        await payer.pay({ accepts: [{ ...requirements, amount: ask.toString(), extra: { ...requirements.extra, minExpiry: expiry } }] });
      }
      return { x402Version, payload: decodeHeader(payer.token).payload };
    },
    schemeHooks: {
      async onPaymentResponse({ paymentRequired }) {
        const accepted = paymentRequired?.accepts?.find((a) => a.scheme === SCHEME);
        if (!accepted) return undefined;
        const asked = BigInt(accepted.amount);
        const expiry = Number(accepted.extra?.minExpiry ?? 0);
        if (asked <= payer.cap && expiry <= expiryOf(payer.token)) return undefined;
        needed = max(needed, asked);
        minExpiry = Math.max(minExpiry, expiry);
        return { recovered: true };
      },
    },
  };
}
