// Smoke test of a dev node as a Polkadot.js user sees it: chain identity and token
// properties, block production and finality, a transfer that lands and one that fails.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { devAccounts, feePaid, sendAndWaitInBlock, startDevNode, statesAround, waitForHead } from '../lib/node.js';

const UNIT = 10n ** 12n;

describe('dev node smoke test', () => {
  let node;
  let api;
  let alice;
  let bob;

  before(async () => {
    ({ alice, bob } = await devAccounts('Alice', 'Bob'));
    node = await startDevNode();
    api = node.api;
  });

  after(async () => {
    if (node) await node.stop();
  });

  it('is a Tokenmeter chain whose token is TMT with 12 decimals', async () => {
    assert.equal((await api.rpc.system.chain()).toString(), 'Tokenmeter Development');
    assert.equal((await api.rpc.system.name()).toString(), 'Tokenmeter Node');
    assert.equal(api.runtimeVersion.specName.toString(), 'tokenmeter');
    assert.deepEqual(api.registry.chainTokens, ['TMT']);
    assert.deepEqual(api.registry.chainDecimals, [12]);
    assert.equal(api.registry.chainSS58, 42);
    const properties = (await api.rpc.system.properties()).toHuman();
    assert.deepEqual(properties.tokenSymbol, ['TMT']);
    assert.deepEqual(properties.tokenDecimals, ['12']);
    assert.equal(properties.ss58Format, '42');
  });

  it('produces and finalises blocks', async () => {
    const best = await waitForHead(api, 'subscribeNewHeads', (h) => h.number.toNumber() >= 2, 60_000);
    assert.ok(best.number.toNumber() >= 2);
    const finalized = await waitForHead(api, 'subscribeFinalizedHeads', (h) => h.number.toNumber() >= 1, 60_000);
    assert.ok(finalized.number.toNumber() >= 1);
    // A finalised block is a block of the chain: its hash is canonical at its height.
    const canonical = await api.rpc.chain.getBlockHash(finalized.number.toNumber());
    assert.equal(canonical.toHex(), finalized.hash.toHex());
  });

  it('lands a signed transfer from Alice to Bob with its event and the new balances', async () => {
    const amount = 123n * UNIT;
    const { blockHash, events, dispatchError } = await sendAndWaitInBlock(
      api.tx.balances.transferKeepAlive(bob.address, amount),
      alice,
    );
    assert.equal(dispatchError, undefined, `transfer failed: ${dispatchError}`);

    const transfer = events.find(({ event }) => api.events.balances.Transfer.is(event));
    assert.ok(transfer, 'no balances.Transfer event');
    const [from, to, value] = transfer.event.data;
    assert.equal(from.toString(), alice.address);
    assert.equal(to.toString(), bob.address);
    assert.equal(value.toBigInt(), amount);
    assert.ok(events.some(({ event }) => api.events.system.ExtrinsicSuccess.is(event)));

    const fee = feePaid(api, events);
    assert.ok(fee > 0n);

    // Balances just before and just after the block that included the transfer.
    const { before, after: afterBlock } = await statesAround(api, blockHash);
    const aliceBefore = (await before.query.system.account(alice.address)).data.free.toBigInt();
    const bobBefore = (await before.query.system.account(bob.address)).data.free.toBigInt();
    const aliceAfter = (await afterBlock.query.system.account(alice.address)).data.free.toBigInt();
    const bobAfter = (await afterBlock.query.system.account(bob.address)).data.free.toBigInt();
    assert.equal(bobAfter - bobBefore, amount);
    assert.equal(aliceBefore - aliceAfter, amount + fee);
  });

  it('rejects a transfer of more than the sender holds with a clear error and moves nothing', async () => {
    const bobAccount = await api.query.system.account(bob.address);
    const tooMuch = bobAccount.data.free.toBigInt() + 1n;
    const { blockHash, events, dispatchError } = await sendAndWaitInBlock(
      api.tx.balances.transferAllowDeath(alice.address, tooMuch),
      bob,
    );

    assert.ok(dispatchError, 'the over-spend succeeded');
    assert.ok(events.some(({ event }) => api.events.system.ExtrinsicFailed.is(event)));
    assert.ok(!events.some(({ event }) => api.events.balances.Transfer.is(event)), 'a Transfer event was emitted');
    // pallet-balances reports an over-spend through the fungible traits as the dispatch error
    // `Token(FundsUnavailable)`; Polkadot.js decodes and documents it.
    assert.ok(dispatchError.isToken, `unexpected error kind: ${dispatchError.toString()}`);
    assert.equal(dispatchError.asToken.type, 'FundsUnavailable');

    const fee = feePaid(api, events);
    const { before, after: afterBlock } = await statesAround(api, blockHash);
    const free = async (at, who) => (await at.query.system.account(who)).data.free.toBigInt();
    // Only the fee for the failed call left Bob; Alice received nothing.
    assert.equal(await free(afterBlock, alice.address), await free(before, alice.address));
    assert.equal((await free(before, bob.address)) - (await free(afterBlock, bob.address)), fee);
  });
});
