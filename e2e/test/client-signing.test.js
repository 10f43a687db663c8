// The client's signing rules (issue 28 §3), against hostile gateways: test HTTP servers that
// answer 402 with whatever an attacker would ask for. The client signs only for the providers
// and the chain it was configured for (per origin), within the cap the user set and an expiry
// near the chain's head; it sends a provider's token to that provider's origin only; and the
// x402 scheme never signs above what x402's spend controls approved.
//
// No node is needed: `blockNumber` is the chain's head as the client is told it.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';

import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady } from '@polkadot/util-crypto';
import OpenAI from 'openai';
import { createPayer, decodeHeader, networkId, tokenmeterScheme, wrapFetch } from '@tokenmeter/client';
import { wrapFetchWithPayment, x402Client } from '@x402/fetch';

const UNIT = 10n ** 12n;
const GENESIS = `0x${'ab'.repeat(32)}`;
const OTHER_GENESIS = `0x${'cd'.repeat(32)}`;
const HEAD = 1_000;
const blockNumber = async () => HEAD;
const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64');

/**
 * A gateway under test control: answers 402 with `ask()` until it sees a payment, then 200.
 * Records every request's payment header.
 */
async function hostileGateway(ask) {
  const seen = [];
  const server = http.createServer((req, res) => {
    // The SDK's own API key ('unused') is not a payment.
    const bearer = req.headers.authorization?.replace(/^Bearer /, '');
    const token = req.headers['payment-signature'] ?? (bearer && bearer !== 'unused' ? bearer : undefined);
    seen.push(token ?? null);
    req.resume();
    req.on('end', () => {
      const requirement = ask(token, seen.length);
      if (requirement) {
        res.writeHead(402, { 'content-type': 'application/json', 'payment-required': b64(requirement) });
        res.end(JSON.stringify({ error: { message: 'pay', type: 'payment_required', code: 'payment_required' } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        id: 'x', object: 'chat.completion', created: 0, model: 'm',
        choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      }));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return { url, seen, paid: () => seen.filter(Boolean), stop: () => new Promise((resolve) => server.close(resolve)) };
}

describe('the client signs only what its user configured', () => {
  let bob;
  let provider;
  let mallory;
  const servers = [];
  const requirement = (overrides = {}, extra = {}) => ({
    x402Version: 2,
    error: 'payment required',
    resource: { url: '/v1/chat/completions' },
    accepts: [{
      scheme: 'tokenmeter-voucher', network: networkId(GENESIS), amount: String(UNIT), asset: 'TMT',
      payTo: provider.address, maxTimeoutSeconds: 600,
      ...overrides,
      extra: { genesisHash: GENESIS, minExpiry: HEAD + 10, ...extra },
    }],
  });
  const start = async (ask) => {
    const server = await hostileGateway(ask);
    servers.push(server);
    return server;
  };
  const payerFor = (url, options = {}) => createPayer({
    pair: bob, genesisHash: GENESIS, providers: { [url]: provider.address }, maxCap: 10n * UNIT, blockNumber, ...options,
  });
  const chat = (url, fetch) => new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0, fetch })
    .chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });

  before(async () => {
    await cryptoWaitReady();
    const keyring = new Keyring({ type: 'sr25519' });
    bob = keyring.addFromUri('//Bob');
    provider = keyring.addFromUri('//Alice');
    mallory = keyring.addFromUri('//Mallory');
  });

  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('pays an honest gateway: a voucher for the configured provider, chain, cap and a near expiry', async () => {
    const gateway = await start((token) => (token ? null : requirement()));
    const payer = payerFor(gateway.url, { budget: UNIT });
    const answer = await chat(gateway.url, wrapFetch(fetch, payer));
    assert.equal(answer.choices[0].message.content, 'ok');
    const [token] = gateway.paid();
    const { payload } = decodeHeader(token);
    assert.equal(payload.voucher.provider, provider.address);
    assert.equal(payload.voucher.genesisHash, GENESIS);
    assert.equal(BigInt(payload.voucher.cap), 2n * UNIT, 'what was asked plus the budget');
    assert.ok(payload.voucher.expiry <= HEAD + 2 * 14_400);
    assert.match(payload.secret, /^0x[0-9a-f]{64}$/);
    assert.equal(payer.tokenFor(gateway.url), token);
  });

  for (const [what, ask] of [
    ['another payee', () => requirement({ payTo: mallory.address })],
    ['another chain (network)', () => requirement({ network: networkId(OTHER_GENESIS) })],
    ['another chain (genesis hash)', () => requirement({}, { genesisHash: OTHER_GENESIS })],
    ['a cap above the user\'s limit', () => requirement({ amount: String(10n ** 24n) })],
    ['an expiry far past the head', () => requirement({}, { minExpiry: 4_000_000_000 })],
  ]) {
    it(`signs nothing for a gateway asking for ${what}`, async () => {
      let signed = 0;
      const counting = { ...bob, sign: (...args) => { signed += 1; return bob.sign(...args); } };
      const gateway = await start((token) => (token ? null : ask()));
      const payer = payerFor(gateway.url, { pair: counting });
      await assert.rejects(chat(gateway.url, wrapFetch(fetch, payer)), (e) => /refusing to sign/.test(e.cause?.message ?? e.message));
      assert.equal(signed, 0);
      assert.deepEqual(gateway.paid(), [], 'a payment reached the hostile gateway');
      assert.equal(payer.tokenFor(gateway.url), null);
    });
  }

  it('sends provider A\'s token to A only: B, unconfigured, gets no token and no payment', async () => {
    const a = await start((token) => (token ? null : requirement()));
    const b = await start((token) => (token ? null : requirement()));
    const payer = payerFor(a.url);
    const paying = wrapFetch(fetch, payer);
    await chat(a.url, paying);
    assert.equal(a.paid().length, 1);
    // B answers 402 too: the request goes out untouched and the 402 comes back unpaid.
    await assert.rejects(chat(b.url, paying), (e) => e.status === 402);
    assert.deepEqual(b.seen, [null]);
    // A second request to A carries A's token up front.
    await chat(a.url, paying);
    assert.equal(a.seen.at(-1), payer.tokenFor(a.url));
  });

  it('draws a session secret per provider: two providers never see the same secret', async () => {
    const a = await start((token) => (token ? null : requirement()));
    const b = await start((token) => (token ? null : requirement({ payTo: mallory.address })));
    const payer = createPayer({
      pair: bob, genesisHash: GENESIS, maxCap: 10n * UNIT, blockNumber,
      providers: { [a.url]: provider.address, [b.url]: mallory.address },
    });
    const paying = wrapFetch(fetch, payer);
    await chat(a.url, paying);
    await chat(b.url, paying);
    const [ta, tb] = [a.paid()[0], b.paid()[0]].map((t) => decodeHeader(t).payload);
    assert.equal(ta.voucher.provider, provider.address);
    assert.equal(tb.voucher.provider, mallory.address);
    assert.notEqual(ta.secret, tb.secret);
    assert.notEqual(ta.voucher.session, tb.voucher.session);
  });

  it('refuses to be created without a cap or a chain head', () => {
    assert.throws(() => createPayer({ pair: bob, genesisHash: GENESIS, providers: { 'http://a': provider.address }, blockNumber }), /maxCap/);
    assert.throws(() => createPayer({ pair: bob, genesisHash: GENESIS, providers: { 'http://a': provider.address }, maxCap: 1n }), /blockNumber/);
    assert.throws(() => createPayer({ pair: bob, genesisHash: GENESIS, maxCap: 1n, blockNumber }), /providers/);
  });

  it('x402: never signs above what spend controls approved, even when a paid retry asks for more', async () => {
    // The first 402 asks for 1 TMT (approved); the paid retry answers 402 again asking for a
    // cumulative cap of 10²⁴ — which the scheme's hook remembers — and x402 recovers.
    const gateway = await start((token, n) => {
      if (!token) return requirement();
      return requirement({ amount: String(10n ** 24n) });
    });
    let signed = 0;
    const counting = { ...bob, sign: (...args) => { signed += 1; return bob.sign(...args); } };
    const client = new x402Client()
      .register('polkadot:*', tokenmeterScheme({
        pair: counting, genesisHash: GENESIS, providers: [provider.address], maxCap: 10n ** 30n, blockNumber,
      }))
      .setSpendControls({ allowedAssets: [{ network: 'polkadot:*', asset: 'TMT', maxAmountPerPayment: String(2n * UNIT) }] });
    await assert.rejects(chat(gateway.url, wrapFetchWithPayment(fetch, client)), (e) => /spendControls/.test(e.cause?.message ?? e.message));
    assert.equal(signed, 1, 'only the approved first voucher was signed');
    const caps = gateway.paid().map((t) => BigInt(decodeHeader(t).payload.voucher.cap));
    assert.ok(caps.every((cap) => cap <= 2n * UNIT), `signed caps ${caps}`);
  });

  it('x402: signs only for configured providers', async () => {
    const gateway = await start((token) => (token ? null : requirement({ payTo: mallory.address })));
    const client = new x402Client()
      .register('polkadot:*', tokenmeterScheme({ pair: bob, genesisHash: GENESIS, providers: [provider.address], maxCap: 10n * UNIT, blockNumber }))
      .setSpendControls({ allowedAssets: [{ network: 'polkadot:*', asset: 'TMT', maxAmountPerPayment: String(5n * UNIT) }] });
    await assert.rejects(chat(gateway.url, wrapFetchWithPayment(fetch, client)), (e) => /refusing to sign/.test(e.cause?.message ?? e.message));
    assert.deepEqual(gateway.paid(), []);
  });
});
