// A fleet of gateways: two `tokenmeter-gateway` instances behind one provider share one
// PostgreSQL database (a real server, started for this file in a temporary directory), as a
// provider runs them behind a load balancer. Users send concurrent requests to both through
// the official `openai` client. The instances together never admit more than a voucher
// allows; they keep one usage feed, numbered without a gap or a duplicate whichever instance
// seals it, that the node's off-chain worker attests from one instance; they hold each user to
// its tier's rate limit together, not once per instance; they keep one priority queue, so
// a higher tier waiting on one instance is served before a lower tier that queued earlier on
// the other; and both instances then see the same books.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import OpenAI from 'openai';
import { decodeHeader, paymentToken, signVoucher } from '@tokenmeter/client';
import { u8aToHex } from '@polkadot/util';

import { waitFor } from '../lib/feed.js';
import { startGateway, startUpstream } from '../lib/gateway.js';
import { devAccounts, freePort, sendAndWaitInBlock, startDevNode } from '../lib/node.js';
import { startPostgres } from '../lib/postgres.js';

const UNIT = 10n ** 12n;
const PRICE = UNIT;

describe('a fleet of gateways on PostgreSQL', () => {
  let postgres;
  let node;
  let api;
  let upstream;
  let accounts;
  let genesisHash;
  let dataDir;
  const gateways = [];
  const urls = [];

  const openai = (url, apiKey) => new OpenAI({ baseURL: `${url}/v1`, maxRetries: 0, apiKey });
  const voucherFor = (who, cap) => signVoucher(who, {
    genesisHash, provider: accounts.alice.address, cap, expiry: 1_000_000,
  });
  const ask = (content, delay = 0) => ({
    model: 'fleet-llm', messages: [{ role: 'user', content }], max_tokens: 16, metadata: { delay_ms: String(delay) },
  });
  // Each instance's operator listener (feed, books), by its public URL.
  const operatorUrls = new Map();
  const admin = async (url, who) => (await fetch(`${operatorUrls.get(url)}/admin/users/${who.address}`)).json();
  const feedOf = async (url) => (await fetch(`${operatorUrls.get(url)}/usage?after=0&limit=10000`)).json();
  const header = (headers, name) => (typeof headers?.get === 'function' ? headers.get(name) : headers?.[name]);
  const charged = (response) => BigInt(decodeHeader(response.headers.get('payment-response')).extra.charged);

  before(async () => {
    accounts = await devAccounts('Alice', 'Bob', 'Charlie', 'Dave', 'Eve', 'Ferdie', 'Grace', 'Operator');
    const { alice, bob, charlie, dave, eve, ferdie, grace, operator } = accounts;
    postgres = await startPostgres();
    const upstreamPort = await freePort();
    upstream = await startUpstream(upstreamPort);
    const ports = [await freePort(), await freePort()];
    const operatorPorts = [await freePort(), await freePort()];
    urls.push(...ports.map((port) => `http://127.0.0.1:${port}`));
    urls.forEach((url, i) => operatorUrls.set(url, `http://127.0.0.1:${operatorPorts[i]}`));
    // The operator node attests the feed as one instance serves it.
    node = await startDevNode({ extraArgs: ['--usage-feed', operatorUrls.get(urls[0])] });
    api = node.api;
    genesisHash = (await api.rpc.chain.getBlockHash(0)).toHex();
    await api.rpc.author.insertKey('tmat', '//Operator', u8aToHex(operator.publicKey));
    const model = (await api.query.inferenceCredits.nextModelId()).toNumber();
    const results = await Promise.all([
      sendAndWaitInBlock(api.tx.utility.batchAll([
        api.tx.inferenceCredits.registerProvider('Alice AI', urls[0]),
        api.tx.inferenceCredits.registerModel('fleet-llm', PRICE, PRICE, 'Open'),
        api.tx.usageAttestation.registerOperator(operator.address),
        api.tx.usageAttestation.setCapacity(1_000_000_000),
        api.tx.balances.transferKeepAlive(operator.address, 10n * UNIT),
        api.tx.balances.transferKeepAlive(grace.address, 1_000n * UNIT),
      ]), alice),
      sendAndWaitInBlock(api.tx.inferenceCredits.depositCredits(100n * UNIT), bob),
      sendAndWaitInBlock(api.tx.inferenceCredits.depositCredits(100n * UNIT), charlie),
      sendAndWaitInBlock(api.tx.inferenceCredits.depositCredits(100n * UNIT), dave),
      sendAndWaitInBlock(api.tx.inferenceCredits.depositCredits(100n * UNIT), eve),
      // Ferdie stakes for the top tier (priority weight 20).
      sendAndWaitInBlock(api.tx.utility.batchAll([
        api.tx.inferenceCredits.depositCredits(100n * UNIT),
        api.tx.priorityStaking.stake(10_000n * UNIT),
      ]), ferdie),
    ]);
    for (const { dispatchError } of results) assert.equal(dispatchError, undefined, `${dispatchError}`);
    // Grace (no tier: weight 1), funded by Alice above.
    const graceDeposit = await sendAndWaitInBlock(api.tx.inferenceCredits.depositCredits(100n * UNIT), grace);
    assert.equal(graceDeposit.dispatchError, undefined, `${graceDeposit.dispatchError}`);
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tokenmeter-gateway-fleet-'));
    // Started together: they create the schema once between them.
    // Both seal the shared feed every 20 ms, so that their seals overlap. The fleet has one
    // place with the upstream, which both instances' requests queue for.
    gateways.push(...await Promise.all(ports.map((port, i) => startGateway(port, operatorPorts[i], [
      '--upstream', `http://127.0.0.1:${upstreamPort}/v1`, '--node', `http://127.0.0.1:${node.rpcPort}`,
      '--provider', alice.address, '--model', `${model}=fake-llama`,
      '--data-dir', path.join(dataDir, String(i)), '--database', postgres.url, '--instance', `gateway-${i}`,
      '--poll-ms', '300', '--min-voucher-blocks', '10', '--seal-every-ms', '20',
      '--max-in-flight', '1', '--queue-timeout-secs', '60',
    ]))));
  });

  after(async () => {
    for (const gateway of gateways) await gateway.stop();
    if (upstream) await upstream.stop();
    if (node) await node.stop();
    if (postgres) await postgres.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('never lets the two instances together overspend one voucher', async () => {
    const { bob } = accounts;
    const slow = ask('hold the line', 1500);
    // What one such request needs in all (the 402 of a voucher too small for anything).
    const probe = await fetch(`${urls[0]}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'payment-signature': paymentToken(voucherFor(bob, 1n)) },
      body: JSON.stringify(slow),
    });
    assert.equal(probe.status, 402);
    const worst = BigInt(decodeHeader(probe.headers.get('payment-required')).accepts[0].amount);
    // Enough for three at once; eight overlapping requests, four on each instance (within the
    // ten a minute the two count together). Each instance alone would admit three: six in
    // all, twice the voucher.
    const token = paymentToken(voucherFor(bob, worst * 3n + worst / 2n));
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => (
      openai(urls[i % 2], token).chat.completions.create(slow).withResponse())));
    const statuses = results.map((r) => (r.status === 'fulfilled' ? r.value.response.status : r.reason.status));
    assert.deepEqual(statuses.filter((s) => s === 200).length, 3, `${statuses}`);
    assert.deepEqual(statuses.filter((s) => s === 402).length, 5, `${statuses}`);
    const paid = results.filter((r) => r.status === 'fulfilled').reduce((sum, r) => sum + charged(r.value.response), 0n);
    // Both instances see the same books: everything charged, nothing left reserved.
    for (const url of urls) {
      const report = await admin(url, bob);
      assert.equal(report.unsettled, String(paid));
      assert.equal(report.reserved, '0');
      assert.ok(BigInt(report.unsettled) <= worst * 3n + worst / 2n);
    }
  });

  it('keeps one usage feed without gaps or duplicates, sealed by both instances at once', async () => {
    const { charlie, dave } = accounts;
    const tokens = new Map([[charlie, paymentToken(voucherFor(charlie, 50n * UNIT))], [dave, paymentToken(voucherFor(dave, 50n * UNIT))]]);
    const before = new Map(await Promise.all([charlie, dave].map(async (who) => [who, BigInt((await admin(urls[1], who)).charged)])));
    const served = new Map([[charlie, 0n], [dave, 0n]]);
    // Twenty requests over both instances from both users (five per user and instance: the
    // ten a minute of a user without a tier, which the instances count together), while both
    // instances seal what is charged (every 20 ms) and are asked for their feed again and again.
    const requests = Array.from({ length: 20 }, async (_, i) => {
      const who = i % 4 < 2 ? charlie : dave;
      const { response } = await openai(urls[i % 2], tokens.get(who)).chat.completions
        .create(ask(`request ${i} ${'word '.repeat(i % 7)}`, 20 * (i % 5))).withResponse();
      served.set(who, served.get(who) + charged(response));
    });
    const sealing = Array.from({ length: 20 }, async (_, i) => {
      await new Promise((resolve) => setTimeout(resolve, 25 * i));
      return feedOf(urls[i % 2]);
    });
    await Promise.all([...requests, ...sealing]);
    // Once what is left is sealed, both serve the same records.
    let first;
    let second;
    await waitFor(async () => {
      [first, second] = [await feedOf(urls[0]), await feedOf(urls[1])];
      return first.length > 0 && JSON.stringify(first) === JSON.stringify(second);
    }, 10_000, 'both instances serving the same sealed feed');
    assert.deepEqual(first, second);
    const seqs = first.map((r) => r.seq);
    // Records leave the feed once attested: what remains is one run of numbers, no gap.
    assert.ok(seqs.length > 0);
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => seqs[0] + i));
    // Every charge is in the books once: the charges the clients were told of add up to what
    // both instances report.
    for (const who of [charlie, dave]) {
      for (const url of urls) {
        assert.equal(BigInt((await admin(url, who)).charged) - before.get(who), served.get(who));
      }
    }
  });

  it('holds a user to its tier\'s rate over both instances together', async () => {
    const { eve } = accounts;
    const token = paymentToken(voucherFor(eve, 50n * UNIT));
    // Ten a minute without a tier: one after another, alternating instances, each answer
    // counts what both have let through.
    for (let i = 1; i <= 10; i += 1) {
      const { response } = await openai(urls[i % 2], token).chat.completions.create(ask(`eve ${i}`)).withResponse();
      assert.equal(response.headers.get('ratelimit-limit'), '10');
      assert.equal(response.headers.get('ratelimit-remaining'), String(10 - i));
    }
    const charged10 = await Promise.all(urls.map(async (url) => (await admin(url, eve)).charged));
    // The eleventh is refused by either instance, and nothing more is charged.
    for (const url of urls) {
      await assert.rejects(openai(url, token).chat.completions.create(ask('eve 11')), (e) => {
        assert.equal(e.status, 429);
        assert.equal(e.error?.code ?? e.code, 'rate_limit_exceeded');
        assert.equal(header(e.headers, 'ratelimit-remaining'), '0');
        const retryAfter = Number(header(e.headers, 'retry-after'));
        assert.ok(retryAfter >= 1 && retryAfter <= 60, `retry-after ${retryAfter}`);
        return true;
      });
    }
    const later = await Promise.all(urls.map(async (url) => (await admin(url, eve)).charged));
    assert.deepEqual(later, charged10);
    assert.equal(later[0], later[1], 'both instances see the same books');
  });

  it('keeps one priority queue: a higher tier waiting on one instance goes before a lower tier queued earlier on the other', async () => {
    const { ferdie, grace } = accounts;
    // Ferdie's stake has warmed up (five blocks) by the block both instances follow.
    let tier;
    for (let i = 0; i < 40 && tier !== 3; i += 1) {
      tier = (await api._rpcCore.provider.send('priority_of', [ferdie.address])).tier;
      if (tier !== 3) await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    assert.equal(tier, 3, 'Ferdie reached the top tier');
    const best = (await api.rpc.chain.getHeader()).number.toNumber();
    await waitFor(async () => {
      const heights = await Promise.all(urls.map(async (url) => (await (await fetch(`${url}/health`)).json()).block));
      return heights.every((height) => height >= best);
    }, 20_000, 'both instances following the block Ferdie has his tier in');
    const [ferdieToken, graceToken] = [ferdie, grace].map((who) => paymentToken(voucherFor(who, 50n * UNIT)));
    const before = (await (await fetch(`${upstream.url}/_requests`)).json()).length;
    // Grace's long request on the first instance holds the fleet's one place...
    const blocker = openai(urls[0], graceToken).chat.completions.create(ask('grace blocker', 2500));
    await new Promise((resolve) => setTimeout(resolve, 500));
    // ...Grace queues five on the second instance, whose own place is free (a queue per
    // instance would send them at once), and after them Ferdie five on the first.
    const graces = [1, 2, 3, 4, 5].map((i) => openai(urls[1], graceToken).chat.completions.create(ask(`grace ${i}`, 50)));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const ferdies = [1, 2, 3, 4, 5].map((i) => openai(urls[0], ferdieToken).chat.completions.create(ask(`ferdie ${i}`, 50)));
    const answers = await Promise.all([blocker, ...graces, ...ferdies]);
    for (const answer of answers) assert.equal(answer.choices[0].message.content, 'Hello from the fake model');
    const order = (await (await fetch(`${upstream.url}/_requests`)).json()).slice(before).map((r) => r.body.messages[0].content);
    assert.equal(order[0], 'grace blocker', `${order}`);
    assert.deepEqual(order.slice(1, 6).sort(), ['ferdie 1', 'ferdie 2', 'ferdie 3', 'ferdie 4', 'ferdie 5'], `${order}`);
    assert.deepEqual(order.slice(6).sort(), ['grace 1', 'grace 2', 'grace 3', 'grace 4', 'grace 5'], `${order}`);
  });

  it('is attested from one instance, and both take the settled charges off their books', async () => {
    const users = [accounts.bob, accounts.charlie, accounts.dave, accounts.eve, accounts.ferdie, accounts.grace];
    const charged0 = await Promise.all(users.map(async (who) => BigInt((await admin(urls[0], who)).charged)));
    let ledgers;
    await waitFor(async () => {
      ledgers = await Promise.all(users.map((who) => api.query.inferenceCredits.voucherLedgers(who.address, accounts.alice.address)));
      return ledgers.every((l, i) => l.settled.toBigInt() === charged0[i]);
    }, 90_000, 'the chain settling everything both instances charged').catch(async (e) => {
      throw new Error(`${e.message}: charged ${charged0}, ledgers ${JSON.stringify(ledgers)}, feed ${JSON.stringify(await feedOf(urls[0]))}\n${node.logs.slice(-40).join('')}`);
    });
    await waitFor(async () => {
      const reports = await Promise.all(urls.flatMap((url) => users.map((who) => admin(url, who))));
      return reports.every((r) => r.unsettled === '0' && r.reserved === '0' && r.settledOnChain === r.charged);
    }, 40_000, 'both instances reporting every charge settled');
    // The attested records left the shared feed.
    assert.deepEqual(await feedOf(urls[1]), []);
  });
});
