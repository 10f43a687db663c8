// @tokenmeter/client: pay a Tokenmeter gateway with vouchers, in Node and in browsers.
//
// A voucher authorises one provider to charge one user's ledger up to a cumulative cap. The
// bytes signed are exactly the chain's (`tokenmeter_primitives::voucher`):
//
//   "tokenmeter/voucher/v2" ++ SCALE(genesisHash, provider, user, payer, cap: u128, expiry: u32)
//                           ++ session (32 bytes)
//
// and browser wallets (the Polkadot.js extension's `signRaw`) sign them wrapped in
// `<Bytes>…</Bytes>`, which the chain and the gateway accept too.
//
// A voucher and its signature are public (the provider's usage feed and every `attest`
// extrinsic carry them), so a gateway serves only a client that also shows the session
// secret the voucher commits to: `session = blake2_256("tokenmeter/session/v1" ++ secret)`.
// The client draws a fresh secret per provider and sends it only to that provider's origin;
// the token (`PAYMENT-SIGNATURE`, or the OpenAI API key) carries voucher, signature and secret.
//
// The gateway speaks x402 v2: a request without enough voucher gets `402` with a base64 JSON
// `PAYMENT-REQUIRED` header naming the cumulative cap it needs; `wrapFetch` signs a voucher
// for that cap plus a budget step and retries with `PAYMENT-SIGNATURE` — only for the
// origins, providers and chain it was configured for, and never above the cap the user set.

import { decodeAddress, encodeAddress } from '@polkadot/keyring';
import { bnToU8a, compactToU8a, hexToU8a, stringToU8a, u8aConcat, u8aToHex, u8aWrapBytes } from '@polkadot/util';
import { blake2AsU8a } from '@polkadot/util-crypto';

export const VOUCHER_DOMAIN = 'tokenmeter/voucher/v1';
export const VOUCHER_DOMAIN_V2 = 'tokenmeter/voucher/v2';
export const SESSION_DOMAIN = 'tokenmeter/session/v1';
export const SCHEME = 'tokenmeter-voucher';
export const AGENT_PAY_DOMAIN = 'tokenmeter/agent-pay';

const toBase64 = (text) => (typeof Buffer !== 'undefined'
  ? Buffer.from(text, 'utf8').toString('base64')
  : btoa(String.fromCharCode(...new TextEncoder().encode(text))));
const fromBase64 = (b64) => (typeof Buffer !== 'undefined'
  ? Buffer.from(b64, 'base64').toString('utf8')
  : new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))));

const bytes32 = (value, what) => {
  const raw = typeof value === 'string' ? hexToU8a(value) : value;
  if (!(raw instanceof Uint8Array) || raw.length !== 32) throw new Error(`${what} must be 32 bytes`);
  return raw;
};

/** A fresh session secret (32 random bytes, hex). Use one per provider. */
export function newSessionSecret() {
  return u8aToHex(globalThis.crypto.getRandomValues(new Uint8Array(32)));
}

/** The session a secret opens, as a voucher names it (hex). */
export function sessionCommitment(secret) {
  return u8aToHex(blake2AsU8a(u8aConcat(stringToU8a(SESSION_DOMAIN), bytes32(secret, 'secret')), 256));
}

/** The bytes a voucher's signer signs. */
export function voucherPayload({ genesisHash, provider, user, payer, cap, expiry, session }) {
  const genesis = bytes32(genesisHash, 'genesisHash');
  return u8aConcat(
    stringToU8a(session ? VOUCHER_DOMAIN_V2 : VOUCHER_DOMAIN),
    genesis,
    decodeAddress(provider),
    decodeAddress(user),
    decodeAddress(payer ?? user),
    bnToU8a(BigInt(cap), { bitLength: 128, isLe: true }),
    bnToU8a(Number(expiry), { bitLength: 32, isLe: true }),
    session ? bytes32(session, 'session') : new Uint8Array(),
  );
}

/**
 * The voucher to sign with its session: `voucher.secret` (hex) if given, else a fresh one;
 * returns `{ full, secret }` with `full.session` the commitment (the secret is not in `full`).
 */
function withSession(voucher, signerAddress) {
  const { secret: given, ...rest } = voucher;
  const secret = given ?? newSessionSecret();
  const user = voucher.user ?? signerAddress;
  const full = { ...rest, user, payer: voucher.payer ?? user, session: sessionCommitment(secret) };
  return { full, secret };
}

const SCHEME_BYTE = { sr25519: 1, ed25519: 0, ecdsa: 2, ethereum: 2 };

/** A signature as a SCALE `MultiSignature`, hex: the scheme byte, then the signature. */
function multiSignature(type, signature) {
  const byte = SCHEME_BYTE[type];
  if (byte === undefined) throw new Error(`unknown key type ${type}`);
  const raw = typeof signature === 'string' ? hexToU8a(signature) : signature;
  return u8aToHex(u8aConcat(new Uint8Array([byte]), raw));
}

/**
 * Signs `voucher` with a keyring pair; returns `{ voucher, signature, secret }`. The voucher
 * commits to the session of `voucher.secret` (hex), or of a fresh secret.
 */
export function signVoucher(pair, voucher) {
  const { full, secret } = withSession(voucher, pair.address);
  return { voucher: full, signature: multiSignature(pair.type, pair.sign(voucherPayload(full))), secret, signer: pair.address };
}

/**
 * Signs `voucher` with a browser wallet's `signRaw` (the Polkadot.js extension's
 * `injector.signer`), which signs `<Bytes>payload</Bytes>`.
 */
export async function signVoucherWithWallet(signer, address, voucher, type = 'sr25519') {
  const { full, secret } = withSession(voucher, address);
  const { signature } = await signer.signRaw({ address, data: u8aToHex(voucherPayload(full)), type: 'bytes' });
  return { voucher: full, signature: multiSignature(type, signature), secret, signer: address };
}

/**
 * The bytes an agent's controller signs for a payment the agent makes by signature
 * (`agentWallet.paySigned`): "tokenmeter/agent-pay" ++ SCALE(genesisHash, agent, payee,
 * amount: u128, nonce: u32, validUntil: u32). `nonce` is the agent's `nextPaymentId`
 * (RPC `agentWallet_agent`); `validUntil` the last block it may be paid in.
 */
export function agentPaymentPayload({ genesisHash, agent, payee, amount, nonce, validUntil }) {
  return u8aConcat(
    stringToU8a(AGENT_PAY_DOMAIN),
    bytes32(genesisHash, 'genesisHash'),
    decodeAddress(agent),
    decodeAddress(payee),
    bnToU8a(BigInt(amount), { bitLength: 128, isLe: true }),
    bnToU8a(Number(nonce), { bitLength: 32, isLe: true }),
    bnToU8a(Number(validUntil), { bitLength: 32, isLe: true }),
  );
}

/**
 * The controller's signature of an agent payment with a keyring pair, as the call's
 * `signature` argument: `{ Bare: MultiSignature hex }`.
 */
export function signAgentPayment(pair, payment) {
  return { Bare: multiSignature(pair.type, pair.sign(agentPaymentPayload(payment))) };
}

/**
 * The controller's signature of an agent payment with a browser wallet's `signRaw` (which
 * signs `<Bytes>payload</Bytes>`), as the call's `signature` argument: `{ Wrapped: … }`.
 */
export async function signAgentPaymentWithWallet(signer, address, payment, type = 'sr25519') {
  const { signature } = await signer.signRaw({ address, data: u8aToHex(agentPaymentPayload(payment)), type: 'bytes' });
  return { Wrapped: multiSignature(type, signature) };
}

/**
 * A general (version 5) transaction, hex, carrying `call` (encoded, bytes or hex) with no
 * signer: what `agentWallet.paySigned` is submitted as (`author_submitExtrinsic`), by anyone.
 * The explicit data of Tokenmeter's transaction extensions is an immortal era, nonce 0 and
 * tip 0: none of them applies to a transaction without a signer.
 */
export function generalTransaction(call) {
  const body = u8aConcat(
    // Preamble: version 5, general; extension version 0; era immortal; nonce 0; tip 0.
    new Uint8Array([0x45, 0x00, 0x00, 0x00, 0x00]),
    typeof call === 'string' ? hexToU8a(call) : call,
  );
  return u8aToHex(u8aConcat(compactToU8a(body.length), body));
}

/** What a wallet signs for `voucher`. */
export function wrappedVoucherPayload(voucher) {
  return u8aWrapBytes(voucherPayload(voucher));
}

/**
 * The CAIP-2 network id of a chain: `polkadot:` and the first 16 bytes of its genesis hash
 * (CAIP-2's namespace for Polkadot-SDK chains).
 */
export function networkId(genesisHash) {
  return `polkadot:${genesisHash.replace(/^0x/, '').slice(0, 32).toLowerCase()}`;
}

const ss58 = (address) => encodeAddress(decodeAddress(address), 42);

/**
 * The `PAYMENT-SIGNATURE` value (and OpenAI API key) of a signed voucher and its session
 * secret. Send it to the voucher's provider only: it spends up to the cap.
 */
export function paymentToken({ voucher, signature, secret, signer }) {
  const v = {
    genesisHash: typeof voucher.genesisHash === 'string' ? voucher.genesisHash : u8aToHex(voucher.genesisHash),
    provider: encodeAddress(decodeAddress(voucher.provider), 42),
    user: encodeAddress(decodeAddress(voucher.user), 42),
    payer: encodeAddress(decodeAddress(voucher.payer ?? voucher.user), 42),
    cap: BigInt(voucher.cap).toString(),
    expiry: Number(voucher.expiry),
    ...(voucher.session ? { session: u8aToHex(bytes32(voucher.session, 'session')) } : {}),
  };
  return toBase64(JSON.stringify({
    x402Version: 2,
    accepted: { scheme: SCHEME, network: networkId(v.genesisHash), amount: v.cap, asset: 'TMT', payTo: v.provider },
    payload: {
      voucher: v,
      signature,
      ...(secret ? { secret } : {}),
      // Who signed, when not the user (an agent's controller): the gateway checks the
      // signature before asking the chain anything.
      ...(signer && ss58(signer) !== v.user ? { signer: ss58(signer) } : {}),
    },
  }));
}

/** Decodes a base64 JSON header (`PAYMENT-REQUIRED`, `PAYMENT-RESPONSE`). */
export function decodeHeader(value) {
  return value ? JSON.parse(fromBase64(value)) : null;
}

const originOf = (url) => new URL(String(url)).origin;
const maxOf = (a, b) => (a > b ? a : b);
const minOf = (a, b) => (a < b ? a : b);

/**
 * What every signing path checks before it signs for a gateway: the options the user set, and
 * one session secret and one current token per provider. Throws on anything it was not told
 * to sign for.
 */
function signingRules({ pair, signer, address, type, genesisHash, maxCap, user, payer,
  validityBlocks = 14_400, maxValidityBlocks = 2 * validityBlocks, blockNumber }) {
  if (!pair && !(signer && address)) throw new Error('createPayer needs `pair`, or `signer` and `address`');
  if (maxCap === undefined || maxCap === null) throw new Error('set `maxCap`: the most this client signs for any one provider');
  if (typeof blockNumber !== 'function') throw new Error('set `blockNumber`: a function returning the chain\'s current block (bounds voucher expiries)');
  const genesis = u8aToHex(bytes32(genesisHash, 'genesisHash'));
  const network = networkId(genesis);
  const states = new Map();
  return {
    network,
    /** The state of a configured provider (SS58), with its own session secret. */
    provider(provider, cap = maxCap) {
      const key = ss58(provider);
      if (!states.has(key)) states.set(key, { provider: key, maxCap: BigInt(cap), secret: newSessionSecret(), token: null, cap: 0n, expiry: 0 });
      return states.get(key);
    },
    /** Checks what a gateway asks of `state` and signs a cap of up to `wanted`. */
    async sign(state, accepted, wanted, limit = state.maxCap) {
      if (accepted.scheme !== SCHEME) throw new Error(`refusing to sign: scheme ${accepted.scheme}`);
      if (ss58(accepted.payTo) !== state.provider) {
        throw new Error(`refusing to sign: the gateway asks to pay ${accepted.payTo}, configured for ${state.provider}`);
      }
      const asked = accepted.extra?.genesisHash;
      if (accepted.network !== network || (asked !== undefined && String(asked).toLowerCase() !== genesis)) {
        throw new Error(`refusing to sign: the gateway names chain ${accepted.network}, configured for ${network}`);
      }
      const needed = BigInt(accepted.amount);
      const ceiling = minOf(limit, state.maxCap);
      if (needed > ceiling) throw new Error(`refusing to sign: the gateway needs a cap of ${needed}, above the ${ceiling} allowed`);
      const head = Number(await blockNumber());
      const minExpiry = Number(accepted.extra?.minExpiry ?? 0);
      if (!Number.isSafeInteger(minExpiry) || minExpiry > head + maxValidityBlocks) {
        throw new Error(`refusing to sign: the gateway asks for an expiry of ${accepted.extra?.minExpiry}, beyond ${maxValidityBlocks} blocks from ${head}`);
      }
      const cap = minOf(maxOf(wanted, needed), ceiling);
      const expiry = Math.min(Math.max(minExpiry, head) + validityBlocks, head + maxValidityBlocks);
      const voucher = { genesisHash: genesis, provider: state.provider, user, payer, cap, expiry, secret: state.secret };
      const signed = pair ? signVoucher(pair, voucher) : await signVoucherWithWallet(signer, address, voucher, type);
      state.token = paymentToken(signed);
      state.cap = cap;
      state.expiry = expiry;
      return state.token;
    },
  };
}

/**
 * A payer that signs vouchers as gateways ask for them, within rules the user set:
 * - `pair` (a keyring pair) or `signer` + `address` (+ `type`) of a browser wallet;
 * - `genesisHash`: the only chain it signs for;
 * - `providers`: `{ [origin]: providerSS58 | { provider, maxCap } }` — the only gateways it
 *   pays, each with the only provider it signs for there; a token is sent to its own origin
 *   only;
 * - `maxCap` (required): the most it signs for any one provider (a provider entry may set a
 *   lower or higher one);
 * - `blockNumber` (required): `() => number | Promise<number>`, the chain's current block; an
 *   expiry is at most `maxValidityBlocks` (default 2 × `validityBlocks`) past it;
 * - `budget`: how much to raise the cap beyond what the gateway asks for, each time (smallest
 *   unit, bigint), so that not every request needs a new signature;
 * - `user` (an agent whose controller signs) and `payer` (an owner who delegated);
 * - `validityBlocks`: how long past the gateway's minimum expiry a voucher lasts.
 * Each provider gets its own session secret, drawn here and never sent anywhere else.
 */
export function createPayer(options) {
  const rules = signingRules(options);
  const budget = BigInt(options.budget ?? 0n);
  const origins = new Map();
  for (const [url, entry] of Object.entries(options.providers ?? {})) {
    const { provider, maxCap } = typeof entry === 'string' ? { provider: entry } : entry;
    origins.set(originOf(url), rules.provider(provider, maxCap ?? options.maxCap));
  }
  if (origins.size === 0) throw new Error('set `providers`: { [gateway origin]: provider address }');
  const stateOf = (url) => {
    try { return origins.get(originOf(url)); } catch { return undefined; }
  };
  let last = null;
  return {
    /** Whether this payer pays the gateway at `url`. */
    pays: (url) => stateOf(url) !== undefined,
    /** The current token for the gateway at `url`, if any. */
    tokenFor: (url) => stateOf(url)?.token ?? null,
    /** The cap of the current token for the gateway at `url` (0n without one). */
    capFor: (url) => stateOf(url)?.cap ?? 0n,
    /** The token and cap signed last (for a payer of one gateway). */
    get token() { return last?.token ?? null; },
    get cap() { return last?.cap ?? 0n; },
    /** Signs a voucher for what the gateway at `url` asks in a `PAYMENT-REQUIRED`; the token. */
    async pay(requirement, url) {
      const state = stateOf(url);
      if (!state) throw new Error(`refusing to sign: ${url} is not a configured gateway`);
      const accepted = requirement?.accepts?.find((a) => a.scheme === SCHEME);
      if (!accepted) throw new Error('the gateway offers no tokenmeter-voucher payment');
      const token = await rules.sign(state, accepted, BigInt(accepted.amount) + budget);
      last = state;
      return token;
    },
  };
}

const urlOf = (input) => (typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);

/**
 * Wraps `fetch` so that a `402` from a configured Tokenmeter gateway is paid by `payer` and
 * the request retried once with `PAYMENT-SIGNATURE`; later requests send that gateway's
 * current token up front. Requests to any other origin go out untouched (no token, no
 * payment). Works as the `fetch` option of the `openai` SDK. A 402 asking for what the payer
 * may not sign (another provider or chain, a cap above the limit, a far expiry) throws.
 */
export function wrapFetch(fetchImpl, payer) {
  return async (input, init = {}) => {
    const url = urlOf(input);
    if (!payer.pays(url)) return fetchImpl(input, init);
    const withToken = (token) => {
      const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
      if (token) headers.set('PAYMENT-SIGNATURE', token);
      return { ...init, headers };
    };
    // A body that is a stream cannot be sent twice; requests of the openai SDK are strings.
    let response = await fetchImpl(input, withToken(payer.tokenFor(url)));
    // The first 402 may not know the user yet (no voucher sent): it asks for this request's
    // cost alone, and the second names the cumulative cap. Pay at most twice.
    for (let attempt = 0; attempt < 2 && response.status === 402; attempt += 1) {
      const requirement = decodeHeader(response.headers.get('payment-required'));
      const accepted = requirement?.accepts?.find((a) => a.scheme === SCHEME);
      if (!accepted) return response;
      // Nothing more to sign if the current cap already covers what is asked: the 402 is
      // about something else (credits, an expired voucher is re-signed below).
      const error = await response.clone().json().then((b) => b?.error?.code, () => undefined);
      if (payer.capFor(url) >= BigInt(accepted.amount) && error !== 'voucher_expired') return response;
      await payer.pay(requirement, url);
      response = await fetchImpl(input, withToken(payer.tokenFor(url)));
    }
    return response;
  };
}

/**
 * The Tokenmeter voucher scheme as an x402 `SchemeNetworkClient`, for `@x402/core`'s
 * `x402Client` and so `@x402/fetch`'s `wrapFetchWithPayment`. Options as `createPayer`'s,
 * with `providers` a list of provider addresses (x402 does not tell a scheme the origin):
 *
 *   const client = new x402Client()
 *     .register('polkadot:*', tokenmeterScheme({ pair, genesisHash, providers: [provider],
 *       maxCap: 10n ** 13n, blockNumber }))
 *     .setSpendControls({ allowedAssets: [{ network: 'polkadot:*', asset: 'TMT', maxAmountPerPayment: '...' }] });
 *   const fetchWithPay = wrapFetchWithPayment(fetch, client);
 *
 * x402 pays each request on its own: a 402, then the request again with `PAYMENT-SIGNATURE`.
 * A voucher is cumulative, so the scheme signs a new one only when the gateway asks for more
 * than the current cap (or a later expiry). The first 402 of a request without a voucher
 * cannot know what the user already owes the provider; when the paid retry answers 402 with
 * the cumulative cap, the scheme's `onPaymentResponse` hook asks x402 to recover, and the
 * next payload covers that cap. The cap signed never exceeds what x402's spend controls
 * approved (`maxAmountPerPayment`, which applies to the cumulative cap) nor `maxCap`.
 */
export function tokenmeterScheme(options) {
  const rules = signingRules(options);
  const budget = BigInt(options.budget ?? 0n);
  const list = Array.isArray(options.providers) ? options.providers : Object.values(options.providers ?? {});
  const states = new Map();
  for (const entry of list) {
    const { provider, maxCap } = typeof entry === 'string' ? { provider: entry } : entry;
    const state = rules.provider(provider, maxCap ?? options.maxCap);
    states.set(state.provider, { state, needed: 0n, minExpiry: 0 });
  }
  if (states.size === 0) throw new Error('set `providers`: the provider addresses this scheme pays');
  const known = (payTo) => {
    try { return states.get(ss58(payTo)); } catch { return undefined; }
  };
  return {
    scheme: SCHEME,
    async createPaymentPayload(x402Version, requirements, context = {}) {
      const entry = known(requirements.payTo);
      if (!entry) throw new Error(`refusing to sign: ${requirements.payTo} is not a configured provider`);
      const { state } = entry;
      const approved = context.maxAmountPerPayment == null ? state.maxCap : BigInt(context.maxAmountPerPayment);
      const ask = maxOf(BigInt(requirements.amount), entry.needed);
      if (ask > approved) {
        throw new Error(`the gateway asks for a cumulative cap of ${ask}, above what spendControls approved (${approved})`);
      }
      const expiry = Math.max(Number(requirements.extra?.minExpiry ?? 0), entry.minExpiry);
      if (state.cap < ask || state.expiry < expiry) {
        const accepted = { ...requirements, amount: ask.toString(), extra: { ...requirements.extra, minExpiry: expiry } };
        await rules.sign(state, accepted, ask + budget, approved);
      }
      return { x402Version, payload: decodeHeader(state.token).payload };
    },
    schemeHooks: {
      async onPaymentResponse({ paymentRequired }) {
        const accepted = paymentRequired?.accepts?.find((a) => a.scheme === SCHEME);
        const entry = accepted && known(accepted.payTo);
        if (!entry || accepted.network !== rules.network) return undefined;
        const asked = BigInt(accepted.amount);
        const expiry = Number(accepted.extra?.minExpiry ?? 0);
        if (asked <= entry.state.cap && expiry <= entry.state.expiry) return undefined;
        // Remembered only; what is signed is checked against the approved amount, the cap and
        // the expiry bound when the payload is made.
        entry.needed = maxOf(entry.needed, asked);
        entry.minExpiry = Math.max(entry.minExpiry, expiry);
        return { recovered: true };
      },
    },
  };
}
