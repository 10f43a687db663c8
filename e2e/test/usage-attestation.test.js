// Usage attestation as an operator runs it: the test serves a usage feed over HTTP with
// vouchers really signed by Bob and Charlie, starts the dev node with `--usage-feed` and inserts
// an operator key with `author_insertKey`. The node's off-chain worker attests the records by
// itself; credits move from the users to the provider minus the fee to the reward pool and the
// treasury, a record over its voucher's cap is paid only up to the cap, a feed that is down is
// counted in the node's Prometheus metrics and retried.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { u8aToHex } from '@polkadot/util';

import { feedRecord, startFeed, waitFor, waitForAttested } from '../lib/feed.js';

import {
  devAccounts, feeAccounts, freePort, sendAndWaitInBlock, startDevNode, statesAround,
} from '../lib/node.js';

const UNIT = 10n ** 12n;

describe('usage attestation', () => {
  /** Where the protocol fee goes: the reward pool and the treasury (as the chain says). */
  let POOL;
  let TREASURY;
  let node;
  let api;
  let feed;
  let alice;
  let bob;
  let charlie;
  let dave;
  let operator;
  let model;
  let genesisHash;

  /** The value of the node's metric `name` whose labels include `label`. */
  const metric = async (name, label = '') => {
    const text = await (await fetch(`http://127.0.0.1:${node.prometheusPort}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
    assert.ok(line, `no metric ${name}{${label}}`);
    return Number(line.split(' ').pop());
  };

  /**
   * A feed record: `user` served `tokens` input tokens, under a voucher capped at `cap`.
   * Charlie signs as the Polkadot.js extension's `signRaw` does (`<Bytes>…</Bytes>`).
   */
  const record = (seq, user, tokens, cap) => feedRecord({
    seq, user, provider: alice.address, model, tokens, cap, genesisHash: u8aToHex(genesisHash),
    wrapped: user === charlie,
  });

  before(async () => {
    ({ alice, bob, charlie, dave, operator } = await devAccounts('Alice', 'Bob', 'Charlie', 'Dave', 'Operator'));
    const feedPort = await freePort();
    feed = await startFeed(feedPort);
    node = await startDevNode({ extraArgs: ['--usage-feed', `http://127.0.0.1:${feedPort}/`] });
    api = node.api;
    ({ pool: POOL, treasury: TREASURY } = feeAccounts(api));
    genesisHash = (await api.rpc.chain.getBlockHash(0)).toU8a();
  });

  after(async () => {
    if (node) await node.stop();
    if (feed) await new Promise((resolve) => feed.server.close(resolve));
  });

  it('takes an operator key from author_insertKey and a provider that registers it', async () => {
    await api.rpc.author.insertKey('tmat', '//Operator', u8aToHex(operator.publicKey));
    assert.equal((await api.rpc.author.hasKey(u8aToHex(operator.publicKey), 'tmat')).isTrue, true);

    model = (await api.query.inferenceCredits.nextModelId()).toNumber();
    const setUp = api.tx.utility.batchAll([
      api.tx.inferenceCredits.registerProvider('Alice AI', 'https://alice.example/v1'),
      api.tx.inferenceCredits.registerModel('llama-70b', UNIT, UNIT, 'Open'),
      api.tx.usageAttestation.registerOperator(operator.address),
      api.tx.usageAttestation.setCapacity(1_000_000_000),
      // The operator pays its transactions' fees.
      api.tx.balances.transferKeepAlive(operator.address, 10n * UNIT),
    ]);
    const results = await Promise.all([
      sendAndWaitInBlock(setUp, alice),
      sendAndWaitInBlock(api.tx.inferenceCredits.depositCredits(50n * UNIT), bob),
      sendAndWaitInBlock(api.tx.inferenceCredits.depositCredits(50n * UNIT), charlie),
    ]);
    for (const { dispatchError } of results) assert.equal(dispatchError, undefined, `${dispatchError}`);
    const registered = results[0].events.find(({ event }) => api.events.usageAttestation.OperatorRegistered.is(event));
    assert.equal(registered.event.data.operator.toString(), operator.address);
  });

  it('attests the feed by itself: users pay the provider, the pool takes its fee, over-cap usage is not paid', async () => {
    // Bob: 10,000 tokens at 1 TMT per 1,000 under a 50 TMT voucher. Charlie: the same usage
    // under a 4 TMT voucher, so 6 TMT of it is over the cap.
    feed.records.push(record(1, bob, 10_000, 50n * UNIT), record(2, charlie, 10_000, 4n * UNIT));
    const { blockHash, events, attested } = await waitForAttested(api, 1);

    assert.equal(attested.provider.toString(), alice.address);
    assert.equal(attested.operator.toString(), operator.address);
    assert.equal(attested.entries.toNumber(), 2);
    assert.equal(attested.charged.toBigInt(), 14n * UNIT);
    assert.equal(attested.rejected.toNumber(), 0);
    const aboveCap = events.find(({ event }) => api.events.inferenceCredits.UsageAboveCap.is(event));
    assert.equal(aboveCap.event.data.user.toString(), charlie.address);
    assert.equal(aboveCap.event.data.cost.toBigInt(), 10n * UNIT);
    assert.equal(aboveCap.event.data.headroom.toBigInt(), 4n * UNIT);

    const { before: was, after: is } = await statesAround(api, blockHash);
    const credits = async (state, who) => (await state.query.inferenceCredits.credits(who.address)).toBigInt();
    const free = async (state, who) => (await state.query.system.account(who)).data.free.toBigInt();
    assert.equal(await credits(was, bob) - await credits(is, bob), 10n * UNIT);
    assert.equal(await credits(was, charlie) - await credits(is, charlie), 4n * UNIT);
    // The provider gets 14 TMT minus the 5% protocol fee; four fifths of the fee go to the
    // reward pool, one fifth to the treasury (the `TreasuryShare` runtime parameter).
    assert.equal(await free(is, alice.address) - await free(was, alice.address), 14n * UNIT * 95n / 100n);
    assert.equal(await free(is, POOL) - await free(was, POOL), 14n * UNIT * 4n / 100n);
    assert.equal(await free(is, TREASURY) - await free(was, TREASURY), 14n * UNIT * 1n / 100n);
    assert.equal((await is.query.usageAttestation.lastSeq(alice.address)).toNumber(), 2);
    // The worker asks for as many records as the batches of `MaxEntries` (256) one run may
    // send hold (`ocw::MAX_BATCHES_PER_RUN`, 12); it sends as many as the block takes.
    const maxEntries = api.consts.usageAttestation.maxEntries.toNumber();
    assert.ok(feed.requests.includes(`/usage?after=0&limit=${12 * maxEntries}`), feed.requests.join(', '));

    assert.equal(await metric('tokenmeter_usage_attestations_submitted_total'), 1);
    assert.equal(await metric('tokenmeter_usage_attested_records_total'), 2);
  });

  it('counts a feed that is down, submits nothing, and catches up when it is back', async () => {
    const failed = () => metric('tokenmeter_usage_attestations_failed_total', 'reason="unreachable"');
    const failedBefore = await failed();
    feed.status = 503;
    feed.records.push(record(3, bob, 1_000, 50n * UNIT));
    const requests = feed.requests.length;
    // The worker keeps asking, and counts each failure: wait for that condition itself (the
    // worker runs after import on a thread pool, so a fixed number of blocks can be too few).
    await waitFor(async () => feed.requests.length > requests && await failed() >= failedBefore + 1,
      30_000, 'the worker kept asking and counted the failure');
    assert.equal((await api.query.usageAttestation.lastSeq(alice.address)).toNumber(), 2);

    feed.status = 200;
    const { attested } = await waitForAttested(api, 3);
    assert.equal(attested.entries.toNumber(), 1);
    assert.equal(attested.charged.toBigInt(), UNIT);
    assert.equal(await metric('tokenmeter_usage_attestations_submitted_total'), 2);
  });

  // Issue 28 §2, as reproduced on the dev node: stake 500,000, deposit 400,000 as credits, then
  // transfer 499,000 away — all three succeed, because pallet-balances counts held funds toward
  // a freeze. The 400,000 of credits shown must still pay the provider in full.
  it('pays the provider in full for credits that a later freeze covers (stake, deposit, transfer)', async () => {
    const steps = [
      api.tx.priorityStaking.stake(500_000n * UNIT),
      api.tx.inferenceCredits.depositCredits(400_000n * UNIT),
      api.tx.balances.transferKeepAlive(charlie.address, 499_000n * UNIT),
    ];
    for (const step of steps) {
      const { dispatchError } = await sendAndWaitInBlock(step, dave);
      assert.equal(dispatchError, undefined, `${step.method.section}.${step.method.method}: ${dispatchError}`);
    }
    const account = (await api.query.system.account(dave.address)).data;
    assert.ok(account.frozen.toBigInt() > account.free.toBigInt(), 'the freeze rests on held credits');
    assert.equal((await api.query.inferenceCredits.credits(dave.address)).toBigInt(), 400_000n * UNIT);
    // 400,000,000 tokens at 1 TMT per 1,000: exactly the credits shown.
    const seq = (await api.query.usageAttestation.lastSeq(alice.address)).toNumber() + 1;
    feed.records.push(record(seq, dave, 400_000_000, 400_000n * UNIT));
    const { blockHash, events, attested } = await waitForAttested(api, seq);
    assert.equal(attested.charged.toBigInt(), 400_000n * UNIT);
    assert.equal(events.some(({ event }) => api.events.inferenceCredits.SettlementShortfall.is(event)), false);
    const { before: was, after: is } = await statesAround(api, blockHash);
    const free = async (state, who) => (await state.query.system.account(who)).data.free.toBigInt();
    assert.equal(await free(is, alice.address) - await free(was, alice.address), 400_000n * UNIT * 95n / 100n);
    assert.equal((await is.query.inferenceCredits.credits(dave.address)).toBigInt(), 0n);
  });
});
