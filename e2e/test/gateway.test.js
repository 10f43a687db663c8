// The whole loop, as a provider and its users run it: a dev node whose off-chain worker reads
// the gateway's usage feed (`--usage-feed`), an operator key inserted over RPC, a provider with
// a token-gated model, the fake upstream (an HTTP server answering like llama-server), the
// gateway in front of it, and the official `openai` npm package as the client.
//
// A user without a voucher gets 402 and pays through @tokenmeter/client; the unmodified SDK
// pays with a voucher token as its API key; a user below the gate gets 403; a streamed answer
// is charged its exact usage; two concurrent requests cannot overspend one voucher; forged and
// foreign vouchers change nothing; the gateway is killed and restarted mid-way and loses
// nothing; then the node's worker attests the feed by itself and the provider's balance rises
// by exactly what the gateway charged, minus the 5% protocol fee.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import OpenAI from 'openai';
import { createPayer, decodeHeader, paymentToken, signVoucher, tokenmeterScheme, wrapFetch } from '@tokenmeter/client';
import { wrapFetchWithPayment, x402Client } from '@x402/fetch';
import { u8aToHex } from '@polkadot/util';

import { waitFor } from '../lib/feed.js';
import { gatewayBinary, startGateway, startUpstream } from '../lib/gateway.js';
import { devAccounts, freePort, sendAndWaitInBlock, startDevNode } from '../lib/node.js';

const UNIT = 10n ** 12n;
const GATE = 500_000n * UNIT;
// 1 TMT per 1,000 tokens, in and out: a token costs 10⁹, so every cost is exact and a
// multiple of 20 (the 5% fee divides it).
const PRICE = UNIT;
const cost = (input, output) => (BigInt(input) + BigInt(output)) * PRICE / 1000n;

describe('the inference gateway', () => {
  let node;
  let api;
  let upstream;
  let gateway;
  let gatewayUrl;
  let gatewayArgs;
  let gatewayPort;
  let operatorPort;
  let operatorUrl;
  let dataDir;
  let alice;
  let bob;
  let charlie;
  let zoe;
  let operator;
  let model;
  let genesisHash;
  let aliceBefore;
  let upstreamUrl;

  const upstreamRequests = async () => (await fetch(`${upstreamUrl}/_requests`)).json();
  const admin = async (who) => (await fetch(`${operatorUrl}/admin/users/${who.address}`)).json();
  const freeOf = async (who) => (await api.query.system.account(who.address)).data.free.toBigInt();
  const openai = (options) => new OpenAI({ baseURL: `${gatewayUrl}/v1`, maxRetries: 0, ...options });
  const voucherFor = (signer, extra = {}) => signVoucher(signer, {
    genesisHash, provider: alice.address, cap: 50n * UNIT, expiry: 1_000_000, ...extra,
  });
  const ask = { model: 'llama-8b', messages: [{ role: 'user', content: 'say hello to the chain' }], max_tokens: 16 };
  const blockNumber = async () => (await api.rpc.chain.getHeader()).number.toNumber();
  const post = (body, token) => fetch(`${gatewayUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { 'payment-signature': token } : {}) },
    body,
  });
  // A payment token rebuilt by a stranger from a published voucher (a feed record, an attest
  // extrinsic): everything but the owner's session secret, which is published nowhere.
  const rebuilt = (voucher, signature, secret) => Buffer.from(JSON.stringify({
    x402Version: 2,
    accepted: { scheme: 'tokenmeter-voucher', network: `polkadot:${genesisHash.slice(2, 34)}`, amount: voucher.cap, asset: 'TMT', payTo: alice.address },
    payload: { voucher: { genesisHash, provider: alice.address, ...voucher }, signature, ...(secret ? { secret } : {}) },
  })).toString('base64');

  before(async () => {
    ({ alice, bob, charlie, zoe, operator } = await devAccounts('Alice', 'Bob', 'Charlie', 'Zoe', 'Operator'));
    gatewayPort = await freePort();
    gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    operatorPort = await freePort();
    operatorUrl = `http://127.0.0.1:${operatorPort}`;
    const upstreamPort = await freePort();
    upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
    upstream = await startUpstream(upstreamPort);
    node = await startDevNode({ extraArgs: ['--usage-feed', operatorUrl] });
    api = node.api;
    genesisHash = (await api.rpc.chain.getBlockHash(0)).toHex();

    await api.rpc.author.insertKey('tmat', '//Operator', u8aToHex(operator.publicKey));
    model = (await api.query.inferenceCredits.nextModelId()).toNumber();
    const setUp = api.tx.utility.batchAll([
      api.tx.inferenceCredits.registerProvider('Alice AI', gatewayUrl),
      api.tx.inferenceCredits.registerModel('llama-8b', PRICE, PRICE, { MinBalance: GATE }),
      api.tx.usageAttestation.registerOperator(operator.address),
      api.tx.usageAttestation.setCapacity(1_000_000_000),
      api.tx.balances.transferKeepAlive(operator.address, 10n * UNIT),
      api.tx.balances.transferKeepAlive(zoe.address, 1_000n * UNIT),
    ]);
    const results = await Promise.all([
      sendAndWaitInBlock(setUp, alice),
      sendAndWaitInBlock(api.tx.inferenceCredits.depositCredits(100n * UNIT), bob),
      sendAndWaitInBlock(api.tx.inferenceCredits.depositCredits(100n * UNIT), charlie),
    ]);
    for (const { dispatchError } of results) assert.equal(dispatchError, undefined, `${dispatchError}`);
    aliceBefore = await freeOf(alice);

    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tokenmeter-gateway-'));
    gatewayArgs = [
      '--upstream', `${upstreamUrl}/v1`, '--node', `http://127.0.0.1:${node.rpcPort}`,
      '--provider', alice.address, '--model', `${model}=fake-llama`, '--data-dir', dataDir,
      '--poll-ms', '300', '--min-voucher-blocks', '10', '--stale-after-secs', '3',
    ];
    gateway = await startGateway(gatewayPort, operatorPort, gatewayArgs);
  });

  after(async () => {
    if (gateway) await gateway.stop();
    if (upstream) await upstream.stop();
    if (node) await node.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('lists the provider\'s models with their on-chain prices and gate', async () => {
    const { data } = await openai({ apiKey: 'none' }).models.list();
    const listed = data.find((m) => m.id === 'llama-8b');
    assert.ok(listed, JSON.stringify(data));
    assert.equal(listed.owned_by, alice.address);
    assert.equal(listed.tokenmeter.id, model);
    assert.equal(BigInt(listed.tokenmeter.pricePer1kInput), PRICE);
    assert.equal(BigInt(listed.tokenmeter.access.minBalance), GATE);
  });

  it('answers 402 with PAYMENT-REQUIRED to a request without a voucher, and forwards nothing', async () => {
    const before = (await upstreamRequests()).length;
    const response = await fetch(`${gatewayUrl}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ask),
    });
    assert.equal(response.status, 402);
    const required = decodeHeader(response.headers.get('payment-required'));
    assert.equal(required.x402Version, 2);
    const [accepted] = required.accepts;
    assert.equal(accepted.scheme, 'tokenmeter-voucher');
    assert.equal(accepted.payTo, alice.address);
    assert.equal(accepted.network, `polkadot:${genesisHash.slice(2, 34)}`);
    assert.equal(accepted.extra.genesisHash, genesisHash);
    assert.ok(BigInt(accepted.amount) > 0n);
    assert.equal((await response.json()).error.code, 'payment_required');
    // The SDK sees the same 402.
    await assert.rejects(openai({ apiKey: 'none' }).chat.completions.create(ask), (e) => e.status === 402);
    assert.equal((await upstreamRequests()).length, before);
  });

  it('serves a user who pays through the client: 402, a signed voucher, the answer and its receipt', async () => {
    const payer = createPayer({
      pair: bob, budget: 5n * UNIT, genesisHash, providers: { [gatewayUrl]: alice.address }, maxCap: 1_000n * UNIT, blockNumber,
    });
    const client = openai({ apiKey: 'unused', fetch: wrapFetch(fetch, payer) });
    const { data, response } = await client.chat.completions.create(ask).withResponse();
    assert.equal(data.choices[0].message.content, 'Hello from the fake model');
    const receipt = decodeHeader(response.headers.get('payment-response'));
    // 5 prompt words and 5 completion tokens.
    assert.equal(BigInt(receipt.extra.charged), cost(5, 5));
    assert.equal(receipt.payer, bob.address);
    assert.ok(payer.cap > 0n);
    const forwarded = (await upstreamRequests()).at(-1);
    assert.equal(forwarded.body.model, 'fake-llama');
    assert.deepEqual(forwarded.body.messages, ask.messages);
    // The unmodified SDK, with the same token as its API key, until the cap is used up.
    const plain = openai({ apiKey: payer.token });
    const again = await plain.completions.create({ model: 'llama-8b', prompt: 'one two three', max_tokens: 2 });
    assert.equal(again.usage.prompt_tokens, 3);
    assert.equal(BigInt((await admin(bob)).charged), cost(5, 5) + cost(3, 2));
  });

  it('is paid through x402\'s own client (@x402/fetch) with the Tokenmeter scheme plug-in', async () => {
    const before = BigInt((await admin(bob)).charged);
    const upstreamBefore = (await upstreamRequests()).length;
    const x402 = (maxAmountPerPayment) => {
      // No budget: each voucher covers exactly what the gateway asks. Bob already owes the
      // provider, which the first 402 (no voucher yet) cannot know: the paid retry's 402
      // names the cumulative cap, and the scheme's hook makes x402 recover with it.
      const client = new x402Client()
        .register('polkadot:*', tokenmeterScheme({
          pair: bob, budget: 0n, genesisHash, providers: [alice.address], maxCap: 1_000n * UNIT, blockNumber,
        }))
        .setSpendControls({ allowedAssets: [{ network: 'polkadot:*', asset: 'TMT', maxAmountPerPayment }] });
      let signed = 0;
      client.onAfterPaymentCreation(async () => { signed += 1; });
      return { client, signed: () => signed };
    };
    // Spend controls apply to the cumulative cap: below what Bob owes, nothing is paid.
    const stingy = x402(String(cost(5, 16)));
    const refused = openai({ apiKey: 'unused', fetch: wrapFetchWithPayment(fetch, stingy.client) });
    // (The openai SDK reports what its fetch threw as a connection error, with the cause.)
    await assert.rejects(() => refused.chat.completions.create(ask), (e) => /spendControls/.test(e.cause?.message));
    assert.equal(BigInt((await admin(bob)).charged), before);
    assert.equal((await upstreamRequests()).length, upstreamBefore);

    const paying = x402(String(10n * UNIT));
    const client = openai({ apiKey: 'unused', fetch: wrapFetchWithPayment(fetch, paying.client) });
    const { data, response } = await client.chat.completions.create(ask).withResponse();
    assert.equal(data.choices[0].message.content, 'Hello from the fake model');
    assert.equal(BigInt(decodeHeader(response.headers.get('payment-response')).extra.charged), cost(5, 5));
    assert.equal(paying.signed(), 2, 'one payload for the first 402, one after recovery');
    assert.equal(BigInt((await admin(bob)).charged), before + cost(5, 5));
    assert.equal((await upstreamRequests()).length, upstreamBefore + 1, 'forwarded once');
  });

  it('prints a voucher token for curl users that the gateway accepts', async () => {
    const token = execFileSync(gatewayBinary(), [
      'voucher', '--suri', '//Charlie', '--provider', alice.address, '--cap', String(10n * UNIT),
      '--expiry', '1000000', '--genesis', genesisHash,
    ]).toString().trim();
    const response = await fetch(`${gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(ask),
    });
    assert.equal(response.status, 200, await response.clone().text());
    assert.equal(BigInt((await admin(charlie)).charged), cost(5, 5));
  });

  it('refuses a user below the token gate with 403 and forwards nothing', async () => {
    const before = (await upstreamRequests()).length;
    const token = paymentToken(voucherFor(zoe));
    await assert.rejects(openai({ apiKey: token }).chat.completions.create(ask), (e) => {
      assert.equal(e.status, 403);
      assert.equal(e.code, 'balanceBelowGate');
      return true;
    });
    assert.equal((await upstreamRequests()).length, before);
    assert.equal((await admin(zoe)).charged, '0');
  });

  it('refuses forged, foreign and malformed requests with clear 4xx errors, charging nothing', async () => {
    const before = (await upstreamRequests()).length;
    const bobBefore = (await admin(bob)).charged;
    // Charlie signs a voucher naming Bob: not Bob's signature.
    const forged = voucherFor(charlie, { user: bob.address });
    let response = await post(JSON.stringify(ask), paymentToken(forged));
    assert.equal(response.status, 402);
    assert.equal((await response.json()).error.code, 'invalid_signature');
    // A voucher for another provider.
    response = await post(JSON.stringify(ask), paymentToken(voucherFor(bob, { provider: charlie.address })));
    assert.equal((await response.json()).error.code, 'invalid_pay_to');
    // For another chain.
    response = await post(JSON.stringify(ask), paymentToken(voucherFor(bob, { genesisHash: `0x${'11'.repeat(32)}` })));
    assert.equal((await response.json()).error.code, 'invalid_network');
    // Expired.
    response = await post(JSON.stringify(ask), paymentToken(voucherFor(bob, { expiry: 1 })));
    assert.equal((await response.json()).error.code, 'voucher_expired');
    // Not JSON; an unknown model; a body over the limit.
    const token = paymentToken(voucherFor(bob));
    response = await post('{"model":', token);
    assert.equal(response.status, 400);
    assert.equal((await response.json()).error.code, 'invalid_json');
    response = await post(JSON.stringify({ ...ask, model: 'gpt-9' }), token);
    assert.equal(response.status, 404);
    assert.equal((await response.json()).error.code, 'model_not_found');
    response = await post(JSON.stringify({ ...ask, padding: 'x'.repeat(1_100_000) }), token);
    assert.equal(response.status, 413);
    assert.equal((await upstreamRequests()).length, before);
    assert.equal((await admin(bob)).charged, bobBefore);
  });

  it('checks a token\'s signature before asking the node anything: forged tokens cost no node call', async () => {
    const metric = async () => {
      const text = await (await fetch(`${operatorUrl}/metrics`)).text();
      return Number(text.split('\n').find((l) => l.startsWith('tokenmeter_gateway_chain_user_reads_total '))?.split(' ').pop());
    };
    const before = { reads: await metric(), upstream: (await upstreamRequests()).length };
    assert.ok(Number.isFinite(before.reads));
    // Twenty strangers' names on vouchers Charlie signs: none is theirs.
    const { Keyring } = await import('@polkadot/keyring');
    const keyring = new Keyring({ type: 'sr25519' });
    for (let i = 0; i < 20; i += 1) {
      const stranger = keyring.addFromUri(`//Stranger${i}`);
      // Claimed to be the stranger's own signature (the token names no other signer).
      const { signer, ...forged } = voucherFor(charlie, { user: stranger.address });
      assert.equal(signer, charlie.address);
      const response = await post(JSON.stringify(ask), paymentToken(forged));
      assert.equal(response.status, 402);
      assert.equal((await response.json()).error.code, 'invalid_signature');
    }
    assert.equal(await metric(), before.reads, 'a forged token made the gateway read the chain');
    assert.equal((await upstreamRequests()).length, before.upstream);
  });

  it('refuses a token rebuilt from Bob\'s published feed record: nothing forwarded or charged; Bob\'s own works', async () => {
    const mine = voucherFor(bob);
    assert.equal((await post(JSON.stringify(ask), paymentToken(mine))).status, 200);
    // The usage feed publishes Bob's voucher (cap, expiry, signature, session), once sealed.
    let records;
    let record;
    await waitFor(async () => {
      records = await (await fetch(`${operatorUrl}/usage?after=0`)).json();
      record = records.filter((r) => r.user === bob.address && r.voucher.session === mine.voucher.session).at(-1);
      return record !== undefined;
    }, 10_000, 'Bob\'s record in the feed');
    assert.ok(record?.voucher?.session, JSON.stringify(records));
    assert.equal(record.voucher.session, mine.voucher.session);
    assert.equal(JSON.stringify(records).includes(mine.secret.slice(2)), false, 'the feed leaks the session secret');
    const before = { upstream: (await upstreamRequests()).length, charged: (await admin(bob)).charged };
    const { cap, expiry, signature, session } = record.voucher;
    const voucher = { user: bob.address, payer: bob.address, cap, expiry, session };
    for (const token of [rebuilt(voucher, signature), rebuilt(voucher, signature, session), rebuilt(voucher, signature, `0x${'00'.repeat(32)}`)]) {
      const response = await post(JSON.stringify(ask), token);
      assert.equal(response.status, 402);
      assert.equal((await response.json()).error.code, 'invalid_session');
      await assert.rejects(openai({ apiKey: token }).chat.completions.create(ask), (e) => e.status === 402);
    }
    assert.equal((await upstreamRequests()).length, before.upstream);
    assert.equal((await admin(bob)).charged, before.charged);
    // The owner's token, with its secret, still works.
    assert.equal((await post(JSON.stringify(ask), paymentToken(mine))).status, 200);
    assert.equal(BigInt((await admin(bob)).charged) - BigInt(before.charged), cost(5, 5));
  });

  it('serves the unmodified Python openai SDK with the owner\'s token, and refuses a rebuilt one', async (t) => {
    const python = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '.venv', 'bin', 'python');
    const script = [
      'import sys, openai',
      'client = openai.OpenAI(base_url=sys.argv[1], api_key=sys.argv[2], max_retries=0)',
      'try:',
      '    answer = client.chat.completions.create(model="llama-8b", max_tokens=16,',
      '        messages=[{"role": "user", "content": "say hello to the chain"}])',
      '    print("200", answer.choices[0].message.content, answer.usage.prompt_tokens)',
      'except openai.APIStatusError as e:',
      '    print(e.status_code, e.body.get("code") if isinstance(e.body, dict) else e.body)',
    ].join('\n');
    const run = (token) => execFileSync(python, ['-c', script, `${gatewayUrl}/v1`, token]).toString().trim();
    const mine = voucherFor(bob);
    const before = BigInt((await admin(bob)).charged);
    assert.equal(run(paymentToken(mine)), '200 Hello from the fake model 5');
    assert.equal(BigInt((await admin(bob)).charged) - before, cost(5, 5));
    const { secret, ...published } = mine;
    assert.ok(secret);
    assert.equal(run(paymentToken(published)), '402 invalid_session');
    assert.equal(BigInt((await admin(bob)).charged) - before, cost(5, 5));
  });

  it('charges a streamed answer its exact usage, and strips the usage chunk the client did not ask for', async () => {
    const before = BigInt((await admin(bob)).charged);
    const client = openai({ apiKey: paymentToken(voucherFor(bob)) });
    const chunks = [];
    for await (const chunk of await client.chat.completions.create({ ...ask, stream: true })) chunks.push(chunk);
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), 'Hello from the fake model');
    assert.ok(chunks.every((c) => !c.usage), 'a usage chunk reached a client that did not ask for it');
    assert.equal((await upstreamRequests()).at(-1).body.stream_options.include_usage, true);
    assert.equal(BigInt((await admin(bob)).charged) - before, cost(5, 5));
    // Asked for, it is delivered.
    const withUsage = [];
    const stream = await client.chat.completions.create({ ...ask, stream: true, stream_options: { include_usage: true } });
    for await (const chunk of stream) withUsage.push(chunk);
    // With the charge in it (issue 29): in TMT, and exact in the smallest unit.
    assert.deepEqual(withUsage.at(-1).usage, {
      prompt_tokens: 5, completion_tokens: 5, total_tokens: 10,
      cost: Number(cost(5, 5)) / 1e12, cost_units: String(cost(5, 5)),
    });
    assert.equal(BigInt((await admin(bob)).charged) - before, 2n * cost(5, 5));
  });

  it('never lets two concurrent requests overspend one voucher', async () => {
    const slow = { ...ask, metadata: { delay_ms: '700' } };
    // A voucher too small for anything: the 402 says what this request needs in all.
    const probe = await fetch(`${gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'payment-signature': paymentToken(voucherFor(charlie, { cap: 1n })) },
      body: JSON.stringify(slow),
    });
    assert.equal(probe.status, 402);
    const needed = BigInt(decodeHeader(probe.headers.get('payment-required')).accepts[0].amount);
    // Exactly enough for one of them.
    const token = paymentToken(voucherFor(charlie, { cap: needed }));
    const client = openai({ apiKey: token });
    const results = await Promise.allSettled([
      client.chat.completions.create(slow),
      client.chat.completions.create(slow),
    ]);
    const statuses = results.map((r) => (r.status === 'fulfilled' ? 200 : r.reason.status)).sort();
    assert.deepEqual(statuses, [200, 402]);
  });

  it('exports Prometheus metrics: requests by outcome, tokens, nothing left reserved', async () => {
    const text = await (await fetch(`${operatorUrl}/metrics`)).text();
    const value = (name) => Number(text.split('\n').find((l) => l.startsWith(`${name} `))?.split(' ').pop());
    for (const outcome of ['200', '400', '402', '403', '404', '413']) {
      assert.ok(value(`tokenmeter_gateway_requests_total{outcome="${outcome}"}`) >= 1, `${outcome}:\n${text}`);
    }
    assert.ok(value('tokenmeter_gateway_tokens_total{kind="input"}') >= 5);
    assert.equal(value('tokenmeter_gateway_reserved_value'), 0);
    assert.ok(value('tokenmeter_gateway_unsettled_value') >= 0);
  });

  it('loses nothing when the gateway is killed and restarted', async () => {
    const before = await admin(bob);
    const charlieBefore = await admin(charlie);
    // Answers served just before the kill: their charges are likely still in the charge
    // journal only (moved into the database every 100 ms), so the restart moves them.
    const charlieClient = openai({ apiKey: paymentToken(voucherFor(charlie)) });
    for (let i = 0; i < 2; i += 1) await charlieClient.chat.completions.create(ask);
    await gateway.kill();
    gateway = await startGateway(gatewayPort, operatorPort, gatewayArgs);
    const after = await admin(bob);
    assert.equal(after.charged, before.charged);
    assert.equal(after.served.requests, before.served.requests);
    const charlieAfter = await admin(charlie);
    assert.equal(BigInt(charlieAfter.charged) - BigInt(charlieBefore.charged), 2n * cost(5, 5));
    assert.equal(charlieAfter.served.requests, charlieBefore.served.requests + 2);
    const client = openai({ apiKey: paymentToken(voucherFor(bob)) });
    await client.chat.completions.create(ask);
    assert.equal(BigInt((await admin(bob)).charged) - BigInt(before.charged), cost(5, 5));
  });

  it('is attested by the node\'s off-chain worker: the provider is paid exactly what was charged, less the fee', async () => {
    const users = [bob, charlie, zoe];
    let charged = 0n;
    for (const who of users) charged += BigInt((await admin(who)).charged);
    assert.ok(charged > 0n);
    // The worker reads the feed every block; wait until the chain has settled it all.
    await waitFor(async () => {
      const settled = await Promise.all(users.map(async (who) => (await api.query.inferenceCredits.voucherLedgers(who.address, alice.address)).settled.toBigInt()));
      return settled.reduce((a, b) => a + b, 0n) === charged;
    }, 90_000, 'the chain settling everything the gateway charged');
    assert.equal(await freeOf(alice) - aliceBefore, charged * 95n / 100n);
    // Every `attest` extrinsic publishes the vouchers it settles: a stranger reading the
    // chain rebuilds Bob's token from one and is refused, with nothing forwarded or charged.
    let attested;
    for (let n = (await blockNumber()); n > 0 && !attested; n -= 1) {
      const block = await api.rpc.chain.getBlock(await api.rpc.chain.getBlockHash(n));
      const attest = block.block.extrinsics.find((x) => x.method.section === 'usageAttestation' && x.method.method === 'attest');
      attested = attest?.method.args.find((a) => Array.isArray(a.toJSON?.()))?.find((e) => e.user.toString() === bob.address);
    }
    assert.ok(attested, 'an attest extrinsic with Bob\'s usage');
    const onChain = attested.voucher;
    assert.ok(onChain.voucher.session.isSome, 'the attested voucher commits to a session');
    const before = { upstream: (await upstreamRequests()).length, charged: (await admin(bob)).charged };
    const token = rebuilt({
      user: bob.address, payer: onChain.voucher.payer.toString(), cap: onChain.voucher.cap.toString(),
      expiry: onChain.voucher.expiry.toNumber(), session: onChain.voucher.session.unwrap().toHex(),
    }, onChain.signature.toHex());
    const response = await post(JSON.stringify(ask), token);
    assert.equal(response.status, 402);
    assert.equal((await response.json()).error.code, 'invalid_session');
    assert.equal((await upstreamRequests()).length, before.upstream);
    assert.equal((await admin(bob)).charged, before.charged);
    // The gateway's own reconciliation agrees once it has read the block (it reads the chain
    // every 300 ms).
    await waitFor(async () => {
      const reports = await Promise.all(users.map(admin));
      return reports.every((r) => r.settledOnChain === r.charged && r.unsettled === '0'
        && r.chain.settled === r.charged);
    }, 40_000, 'the gateway reporting every charge settled on chain');
    // Reconciliation from the chain's own UsageSettled events (decoded with the runtime's
    // metadata): what was paid, the fee in it, and nothing unpaid or rejected.
    for (const report of await Promise.all(users.map(admin))) {
      assert.deepEqual(report.chain, {
        settled: report.charged,
        fees: String(BigInt(report.charged) * 5n / 100n),
        aboveCap: '0',
        shortfall: '0',
        rejectedEntries: {},
      });
    }
    const text = await (await fetch(`${operatorUrl}/metrics`)).text();
    const metric = (name) => Number(text.split('\n').find((l) => l.startsWith(`${name} `))?.split(' ').pop());
    assert.equal(metric('tokenmeter_gateway_chain_value_total{outcome="settled"}'), Number(charged), text);
  });

  // Issue 29 §5: a voucher paid from someone else's credits (an owner who approved the user
  // as a delegate: a renter, an agent) is served within the allowance, and the chain takes the
  // charge from the owner's credits and allowance.
  it('serves a renter from the owner\'s credits through the openai client: the allowance falls by exactly the charge', async () => {
    const { dave } = await devAccounts('Dave');
    const expiry = (await blockNumber()) + 1000;
    const approved = await sendAndWaitInBlock(api.tx.inferenceCredits.approveDelegate(dave.address, 10n * UNIT, expiry), charlie);
    assert.equal(approved.dispatchError, undefined, `${approved.dispatchError}`);
    const allowance = async () => (await api.query.inferenceCredits.delegations(charlie.address, dave.address)).unwrap().remaining.toBigInt();
    const before = await allowance();
    const ownerCredits = async () => (await api.query.inferenceCredits.credits(charlie.address)).toBigInt();
    const creditsBefore = await ownerCredits();
    const renter = openai({ apiKey: paymentToken(voucherFor(dave, { payer: charlie.address })) });
    // Served once the gateway follows the block with the allowance.
    let answer;
    for (let i = 0; i < 30 && !answer; i += 1) {
      answer = await renter.chat.completions.create(ask).catch((e) => {
        if (e.code !== 'no_delegation') throw e;
        return new Promise((resolve) => setTimeout(() => resolve(undefined), 300));
      });
    }
    assert.equal(answer?.choices[0].message.content, 'Hello from the fake model');
    const charged = BigInt((await admin(dave)).charged);
    assert.equal(charged, cost(5, 5));
    await waitFor(async () => (await api.query.inferenceCredits.voucherLedgers(dave.address, alice.address)).settled.toBigInt() === charged,
      90_000, 'the chain settling the renter\'s usage');
    assert.equal(before - await allowance(), charged);
    assert.equal(creditsBefore - await ownerCredits(), charged);
  });

  it('answers 502 when the model server is down and 503 once the chain is, charging nothing', async () => {
    const token = paymentToken(voucherFor(bob));
    const post = () => fetch(`${gatewayUrl}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(ask),
    });
    const before = await admin(bob);
    await upstream.stop();
    let response = await post();
    assert.equal(response.status, 502);
    assert.equal((await response.json()).error.code, 'upstream_unreachable');
    const after = await admin(bob);
    assert.equal(after.charged, before.charged);
    assert.equal(after.reserved, '0');
    // The node goes away: the cached state serves for --stale-after-secs (3), then 503.
    await node.stop();
    await waitFor(async () => (await fetch(`${gatewayUrl}/health`)).status === 503, 20_000, 'the gateway giving up on its stale chain state');
    response = await post();
    assert.equal(response.status, 503);
    assert.equal((await response.json()).error.code, 'chain_unavailable');
  });
});
