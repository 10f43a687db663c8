// Priority staking as a user sees it through Polkadot.js: root (sudo) shortens the periods,
// Bob stakes and watches his tier change over RPC once the warm-up has passed, unstakes,
// cannot withdraw before the unbonding period is over, then withdraws and his funds are
// free again. Bad calls return their module error and change nothing.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { devAccounts, moduleError, sendAndWaitInBlock, startDevNode, statesAround, waitForHead } from '../lib/node.js';

const UNIT = 10n ** 12n;
const STAKE = 1_000n * UNIT; // tier 2 in the dev preset
const WARM_UP = 2;
const UNBONDING = 3;

describe('priority staking', () => {
  let node;
  let api;
  let alice;
  let bob;
  let zoe;
  let unlocksAt;
  const rpc = (method, params) => api._rpcCore.provider.send(method, params);
  const frozenOf = async (at, who) =>
    (await at.query.balances.freezes(who.address)).reduce((sum, f) => sum + f.amount.toBigInt(), 0n);

  before(async () => {
    ({ alice, bob, zoe } = await devAccounts('Alice', 'Bob', 'Zoe'));
    node = await startDevNode();
    api = node.api;
  });

  after(async () => {
    if (node) await node.stop();
  });

  it('publishes the tiers and a non-staker\'s priority', async () => {
    const tiers = await rpc('priority_tiers', []);
    assert.deepEqual(tiers.map((t) => [t.tier, BigInt(t.minStake)]), [[1, 100n * UNIT], [2, 1_000n * UNIT], [3, 10_000n * UNIT]]);
    assert.equal((await api.call.priorityStakingApi.tiers()).length, 3);
    const none = await rpc('priority_of', [zoe.address]);
    assert.equal(none.tier, 0);
    assert.equal(none.priorityWeight, 0);
    assert.equal(none.rateLimit, api.consts.priorityStaking.defaultRateLimit.toNumber());
    assert.equal(BigInt(none.allowanceLeft), 0n);
  });

  it('lets root shorten the periods through sudo', async () => {
    const params = { warmUp: WARM_UP, unbondingPeriod: UNBONDING, epochLength: 100 };
    const { events } = await sendAndWaitInBlock(api.tx.sudo.sudo(api.tx.priorityStaking.setParams(params)), alice);
    const sudid = events.find(({ event }) => api.events.sudo.Sudid.is(event));
    assert.ok(sudid.event.data.sudoResult.isOk, `${sudid.event.data.sudoResult}`);
    assert.ok(events.some(({ event }) => api.events.priorityStaking.ParamsSet.is(event)));
    const stored = await api.query.priorityStaking.params();
    assert.equal(stored.warmUp.toNumber(), WARM_UP);
    assert.equal(stored.unbondingPeriod.toNumber(), UNBONDING);
  });

  it('counts new stake toward the tier only after the warm-up', async () => {
    const { blockHash, events, dispatchError } = await sendAndWaitInBlock(api.tx.priorityStaking.stake(STAKE), bob);
    assert.equal(dispatchError, undefined, `${dispatchError}`);
    const staked = events.find(({ event }) => api.events.priorityStaking.Staked.is(event));
    assert.ok(staked, 'no Staked event');
    const block = (await api.rpc.chain.getHeader(blockHash)).number.toNumber();
    const effectiveAt = staked.event.data.effectiveAt.toNumber();
    assert.equal(effectiveAt, block + WARM_UP);
    assert.equal(await frozenOf(await api.at(blockHash), bob), STAKE);

    // Right after staking: still no tier, the stake is warming up.
    const warming = await rpc('priority_of', [bob.address, blockHash.toHex()]);
    assert.equal(warming.tier, 0);
    assert.equal(BigInt(warming.warmingUp), STAKE);
    assert.deepEqual(warming.warmingChunks, [{ amount: STAKE.toString(), at: effectiveAt }]);

    const head = await waitForHead(api, 'subscribeNewHeads', (h) => h.number.toNumber() >= effectiveAt, 60_000);
    const warm = await rpc('priority_of', [bob.address, head.hash.toHex()]);
    assert.equal(warm.tier, 2);
    assert.equal(warm.priorityWeight, 5);
    assert.equal(warm.rateLimit, 300);
    assert.equal(BigInt(warm.effectiveStake), STAKE);
    assert.equal(BigInt(warm.warmingUp), 0n);
    assert.equal(BigInt(warm.allowanceLeft), 10n * UNIT);
    // The credits pallet reads the same tier.
    const access = await api.call.inferenceCreditsApi.canAccess(bob.address, 0, 1, 1);
    assert.equal(access.tier.toNumber(), 2);
  });

  it('stops counting unstaked funds at once and keeps them frozen while unbonding', async () => {
    const { blockHash, events, dispatchError } = await sendAndWaitInBlock(api.tx.priorityStaking.unstake(STAKE), bob);
    assert.equal(dispatchError, undefined, `${dispatchError}`);
    const unstaked = events.find(({ event }) => api.events.priorityStaking.Unstaked.is(event));
    unlocksAt = unstaked.event.data.unlocksAt.toNumber();
    const info = await rpc('priority_of', [bob.address, blockHash.toHex()]);
    assert.equal(info.tier, 0);
    assert.deepEqual(info.unbonding, [{ amount: STAKE.toString(), at: unlocksAt }]);
    assert.equal(await frozenOf(await api.at(blockHash), bob), STAKE);
  });

  it('refuses to withdraw before the unbonding period is over, changing nothing', async () => {
    const { blockHash, dispatchError } = await sendAndWaitInBlock(api.tx.priorityStaking.withdrawUnbonded(), bob);
    const included = (await api.rpc.chain.getHeader(blockHash)).number.toNumber();
    assert.ok(included < unlocksAt, 'the test was too slow to try early');
    assert.equal(moduleError(api, dispatchError), 'priorityStaking.NothingToWithdraw');
    const { before: was, after: is } = await statesAround(api, blockHash);
    assert.equal(await frozenOf(is, bob), await frozenOf(was, bob));
    assert.equal((await is.query.priorityStaking.ledgers(bob.address)).toHex(), (await was.query.priorityStaking.ledgers(bob.address)).toHex());
  });

  it('withdraws after the unbonding period and the funds are free again', async () => {
    await waitForHead(api, 'subscribeNewHeads', (h) => h.number.toNumber() >= unlocksAt, 60_000);
    const { blockHash, events, dispatchError } = await sendAndWaitInBlock(api.tx.priorityStaking.withdrawUnbonded(), bob);
    assert.equal(dispatchError, undefined, `${dispatchError}`);
    const withdrawn = events.find(({ event }) => api.events.priorityStaking.Withdrawn.is(event));
    assert.equal(withdrawn.event.data.amount.toBigInt(), STAKE);
    const at = await api.at(blockHash);
    assert.equal(await frozenOf(at, bob), 0n);
    assert.ok((await at.query.priorityStaking.ledgers(bob.address)).isNone);
    const data = (await at.query.system.account(bob.address)).data;
    assert.equal(data.frozen.toBigInt(), 0n);
  });

  it('rejects staking more than the free balance with its module error, changing nothing', async () => {
    // Zoe gets 10 TMT and tries to stake 100.
    let result = await sendAndWaitInBlock(api.tx.balances.transferKeepAlive(zoe.address, 10n * UNIT), alice);
    assert.equal(result.dispatchError, undefined, `${result.dispatchError}`);
    result = await sendAndWaitInBlock(api.tx.priorityStaking.stake(100n * UNIT), zoe);
    assert.equal(moduleError(api, result.dispatchError), 'priorityStaking.InsufficientBalance');
    const { before: was, after: is } = await statesAround(api, result.blockHash);
    assert.equal(await frozenOf(is, zoe), 0n);
    assert.ok((await is.query.priorityStaking.ledgers(zoe.address)).isNone);
    assert.equal(await frozenOf(was, zoe), 0n);
  });
});
