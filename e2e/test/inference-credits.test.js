// Inference credits as a provider and users see them through Polkadot.js: a provider lists a
// token-gated model, users deposit credits, and `credits_canAccess` answers for a user below
// the gate and one above it. A bad call returns its module error and changes nothing. A price
// increase waits for its notice (shown in the model and in `credits_quote`); a withdrawal
// waits for its notice, and credits under notice are no longer available for new usage.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { devAccounts, feePaid, sendAndWaitInBlock, startDevNode, statesAround } from '../lib/node.js';

const UNIT = 10n ** 12n;
const GATE = 500_000n * UNIT;

describe('inference credits', () => {
  let node;
  let api;
  let alice;
  let bob;
  let charlie;
  let zoe;
  let model;
  const rpc = (method, params) => api._rpcCore.provider.send(method, params);

  before(async () => {
    // Zoe is not a development account: she starts with nothing.
    ({ alice, bob, charlie, zoe } = await devAccounts('Alice', 'Bob', 'Charlie', 'Zoe'));
    node = await startDevNode();
    api = node.api;
  });

  after(async () => {
    if (node) await node.stop();
  });

  it('lets Alice register as a provider and list a token-gated model', async () => {
    let result = await sendAndWaitInBlock(
      api.tx.inferenceCredits.registerProvider('Alice AI', 'https://alice.example/v1'),
      alice,
    );
    assert.equal(result.dispatchError, undefined, `${result.dispatchError}`);
    assert.ok(result.events.some(({ event }) => api.events.inferenceCredits.ProviderRegistered.is(event)));

    model = (await api.query.inferenceCredits.nextModelId()).toNumber();
    result = await sendAndWaitInBlock(
      api.tx.inferenceCredits.registerModel('llama-70b', 2n * UNIT / 1000n, 6n * UNIT / 1000n, { MinBalance: GATE }),
      alice,
    );
    assert.equal(result.dispatchError, undefined, `${result.dispatchError}`);
    const registered = result.events.find(({ event }) => api.events.inferenceCredits.ModelRegistered.is(event));
    assert.ok(registered, 'no ModelRegistered event');
    assert.equal(registered.event.data.model.toNumber(), model);
    const stored = (await api.query.inferenceCredits.models(model)).unwrap();
    assert.equal(stored.provider.toString(), alice.address);
    assert.equal(stored.access.asMinBalance.toBigInt(), GATE);
  });

  it('holds deposited credits and reports them over RPC', async () => {
    // Zoe gets 1,000 TMT: well below the 500,000 TMT gate.
    let result = await sendAndWaitInBlock(api.tx.balances.transferKeepAlive(zoe.address, 1_000n * UNIT), alice);
    assert.equal(result.dispatchError, undefined, `${result.dispatchError}`);
    for (const [who, amount] of [[bob, 100n * UNIT], [zoe, 10n * UNIT]]) {
      result = await sendAndWaitInBlock(api.tx.inferenceCredits.depositCredits(amount), who);
      assert.equal(result.dispatchError, undefined, `${result.dispatchError}`);
      const deposited = result.events.find(({ event }) => api.events.inferenceCredits.CreditsDeposited.is(event));
      assert.equal(deposited.event.data.amount.toBigInt(), amount);
      assert.equal(BigInt(await rpc('credits_balance', [who.address])), amount);
    }
    assert.equal((await api.query.inferenceCredits.credits(bob.address)).toBigInt(), 100n * UNIT);
  });

  it('answers credits_canAccess for a user below the gate and one above it', async () => {
    const below = await rpc('credits_canAccess', [zoe.address, model, 1000, 1000]);
    assert.equal(below.allowed, false);
    assert.equal(below.reason, 'balanceBelowGate');
    assert.equal(BigInt(below.required), GATE);
    assert.ok(BigInt(below.actual) < GATE);
    assert.equal(BigInt(below.availableCredit), 10n * UNIT);

    const above = await rpc('credits_canAccess', [bob.address, model, 1000, 1000]);
    assert.equal(above.allowed, true);
    assert.equal(above.reason, null);
    assert.equal(BigInt(above.availableCredit), 100n * UNIT);
    // 1,000 input tokens at 2 mTMT per 1k + 1,000 output tokens at 6 mTMT per 1k.
    assert.equal(BigInt(above.estimatedCost), 8n * UNIT / 1000n);
    assert.equal(BigInt(above.voucherHeadroom), 0n);

    const quote = await rpc('credits_quote', [model, 1000, 1000]);
    assert.equal(BigInt(quote.cost), 8n * UNIT / 1000n);
    assert.equal(quote.pendingCost, null);
    assert.equal(await rpc('credits_quote', [model + 100, 1, 1]), null);
    const unknown = await rpc('credits_canAccess', [bob.address, model + 100, 1, 1]);
    assert.equal(unknown.reason, 'unknownModel');

    // The same answers straight from the runtime API, as Polkadot.js decodes them.
    const report = await api.call.inferenceCreditsApi.canAccess(zoe.address, model, 1000, 1000);
    assert.equal(report.allowed.isTrue, false);
    assert.ok(report.denied.unwrap().isBalanceBelowGate);
    assert.equal(report.denied.unwrap().asBalanceBelowGate.required.toBigInt(), GATE);
    assert.equal((await api.call.inferenceCreditsApi.creditBalance(bob.address)).toBigInt(), 100n * UNIT);
  });

  it('rejects a model registered by a non-provider with its module error and changes nothing', async () => {
    const nextModelBefore = (await api.query.inferenceCredits.nextModelId()).toNumber();
    const { blockHash, events, dispatchError } = await sendAndWaitInBlock(
      api.tx.inferenceCredits.registerModel('rogue', 1, 1, 'Open'),
      charlie,
    );
    assert.ok(dispatchError, 'a non-provider registered a model');
    assert.ok(dispatchError.isModule, `not a module error: ${dispatchError}`);
    const { section, name, docs } = api.registry.findMetaError(dispatchError.asModule);
    assert.equal(`${section}.${name}`, 'inferenceCredits.NotProvider');
    assert.match(docs.join(' '), /not a registered provider/);
    assert.ok(!events.some(({ event }) => api.events.inferenceCredits.ModelRegistered.is(event)));

    const { before, after: afterBlock } = await statesAround(api, blockHash);
    assert.equal((await afterBlock.query.inferenceCredits.nextModelId()).toNumber(), nextModelBefore);
    assert.ok((await afterBlock.query.inferenceCredits.providers(charlie.address)).isNone);
    assert.ok((await afterBlock.query.inferenceCredits.models(nextModelBefore)).isNone);
    const account = async (at) => (await at.query.system.account(charlie.address)).data;
    // Nothing held; only the fee of the failed call left Charlie's free balance.
    assert.equal((await account(afterBlock)).reserved.toBigInt(), (await account(before)).reserved.toBigInt());
    const fee = feePaid(api, events);
    assert.equal((await account(before)).free.toBigInt() - (await account(afterBlock)).free.toBigInt(), fee);
  });

  it('announces a price increase and keeps the old price until its notice ends', async () => {
    const result = await sendAndWaitInBlock(
      api.tx.inferenceCredits.updateModel(model, 4n * UNIT / 1000n, 6n * UNIT / 1000n, { MinBalance: GATE }),
      alice,
    );
    assert.equal(result.dispatchError, undefined, `${result.dispatchError}`);
    const updated = result.events.find(({ event }) => api.events.inferenceCredits.ModelUpdated.is(event));
    const header = await api.rpc.chain.getHeader(result.blockHash);
    const effectiveFrom = updated.event.data.effectiveFrom.toNumber();
    // An hour of 6-second blocks.
    assert.equal(effectiveFrom, header.number.toNumber() + 600);
    const stored = (await api.query.inferenceCredits.models(model)).unwrap();
    assert.equal(stored.pricePer1kInput.toBigInt(), 2n * UNIT / 1000n);
    assert.equal(stored.pendingPrice.unwrap().pricePer1kInput.toBigInt(), 4n * UNIT / 1000n);
    const quote = await rpc('credits_quote', [model, 1000, 1000]);
    assert.equal(BigInt(quote.cost), 8n * UNIT / 1000n);
    assert.equal(BigInt(quote.pendingCost), 10n * UNIT / 1000n);
    assert.equal(quote.effectiveFrom, effectiveFrom);
  });

  it('withdraws only after a notice, during which the credits are not available', async () => {
    let result = await sendAndWaitInBlock(api.tx.inferenceCredits.requestWithdrawal(40n * UNIT), bob);
    assert.equal(result.dispatchError, undefined, `${result.dispatchError}`);
    const requested = result.events.find(({ event }) => api.events.inferenceCredits.WithdrawalRequested.is(event));
    assert.equal(requested.event.data.amount.toBigInt(), 40n * UNIT);
    assert.equal(BigInt(await rpc('credits_balance', [bob.address])), 60n * UNIT);
    const access = await rpc('credits_canAccess', [bob.address, model, 1000, 1000]);
    assert.equal(BigInt(access.availableCredit), 60n * UNIT);

    result = await sendAndWaitInBlock(api.tx.inferenceCredits.withdrawCredits(40n * UNIT), bob);
    assert.ok(result.dispatchError, 'withdrew before the notice ended');
    const { section, name } = api.registry.findMetaError(result.dispatchError.asModule);
    assert.equal(`${section}.${name}`, 'inferenceCredits.WithdrawalNotDue');
    const { before, after: afterBlock } = await statesAround(api, result.blockHash);
    for (const at of [before, afterBlock]) {
      assert.equal((await at.query.inferenceCredits.credits(bob.address)).toBigInt(), 100n * UNIT);
    }
  });
});
