// Credits and stake: what the account has, and the actions on it (each one a transaction the
// person confirms with its fee).

import { useEffect, useState } from 'preact/hooks';

import { parseTmt, tmt } from './chain.js';

const SECONDS_PER_BLOCK = 6;

/** `blocks` from now, for a person: `in 40 blocks (about 4 min)`. */
export function inBlocks(blocks) {
  if (blocks <= 0) return 'now';
  const minutes = Math.round((blocks * SECONDS_PER_BLOCK) / 60);
  return `in ${blocks} blocks (about ${minutes < 1 ? 'a minute' : minutes < 120 ? `${minutes} min` : `${Math.round(minutes / 60)} h`})`;
}

/** An amount field and a button that submits `make(amount)`. */
function AmountAction({ label, testid, make, submit, onDone, notify, kind = 'primary' }) {
  const [text, setText] = useState('');
  const go = async () => {
    let amount;
    try {
      amount = parseTmt(text);
      if (amount === 0n) throw new Error('enter an amount above zero');
    } catch (e) {
      notify({ ok: false, text: `${label}: ${e.message}` });
      return;
    }
    const outcome = await submit(make(amount));
    if (outcome?.ok) setText('');
    onDone();
  };
  return (
    <div class="row">
      <label>{label} (TMT)<input data-testid={`${testid}-amount`} inputMode="decimal" value={text} onInput={(e) => setText(e.currentTarget.value)} /></label>
      <button class={kind} data-testid={testid} onClick={go} style="margin-bottom:.6rem">{label}</button>
    </div>
  );
}

/** Feedback rewards: unclaimed epochs, their rewards once closed and the bonds coming back. */
function Rewards({ api, account, head, submit }) {
  const [epochs, setEpochs] = useState(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    // (A `Json` answer that is a list comes as an object keyed by index.)
    const list = (j) => { const raw = j.toJSON(); return Array.isArray(raw) ? raw : Object.values(raw ?? {}); };
    api.rpc.feedback.pendingRewards(account.address).then((j) => live && setEpochs(list(j)), () => live && setEpochs([]));
    return () => { live = false; };
  }, [account.address, tick, Math.floor(head / 5)]);
  if (!epochs) return null;
  const closed = epochs.filter((e) => e.closed);
  return (
    <section>
      <h2>Feedback rewards</h2>
      {epochs.length === 0 ? <p class="muted" data-testid="rewards-none">Nothing to claim: rate or label answers in the chat to earn from the feedback pool.</p> : (
        <table data-testid="rewards"><tbody>{epochs.map((e) => (
          <tr><td>Epoch {e.epoch}</td><td>{e.closed ? `reward ${tmt(e.reward)}` : 'scoring under way'}</td><td>bonds {tmt(e.bonds)}</td></tr>
        ))}</tbody></table>
      )}
      {closed.length > 0 && <button class="primary" data-testid="claim" onClick={async () => { await submit(api.tx.feedbackRewards.claimMany(closed.length)); setTick((t) => t + 1); }}>Claim {closed.length} epoch{closed.length > 1 ? 's' : ''}</button>}
    </section>
  );
}

export function Credits({ api, account, head, submit, notify }) {
  const [state, setState] = useState(null);
  const [tick, setTick] = useState(0);
  const refresh = () => setTick((t) => t + 1);
  useEffect(() => {
    let live = true;
    Promise.all([
      api.query.system.account(account.address),
      api.query.inferenceCredits.credits(account.address),
      api.query.inferenceCredits.pendingWithdrawals(account.address),
      api.rpc.priority.of(account.address),
    ]).then(([acct, credits, withdrawal, priority]) => {
      if (!live) return;
      const p = priority.toJSON();
      const chunks = (list) => list.map((c) => ({ amount: BigInt(c.amount), at: c.at }));
      setState({
        free: acct.data.free.toBigInt(),
        frozen: acct.data.frozen.toBigInt(),
        reserved: acct.data.reserved.toBigInt(),
        credits: credits.toBigInt(),
        withdrawal: withdrawal.isSome ? { amount: withdrawal.unwrap().amount.toBigInt(), unlockAt: withdrawal.unwrap().unlockAt.toNumber() } : null,
        active: BigInt(p.effectiveStake),
        warming: BigInt(p.warmingUp),
        warmingChunks: chunks(p.warmingChunks),
        unbonding: chunks(p.unbonding),
        tier: p.tier === 0 ? 'none' : String(p.tier),
        rateLimit: p.rateLimit,
        allowanceLeft: BigInt(p.allowanceLeft),
        nextEpochAt: p.nextEpochAt,
      });
    }, (e) => notify({ ok: false, text: `Cannot read the account: ${e.message}` }));
    return () => { live = false; };
  }, [account.address, tick, Math.floor(head / 2)]);
  if (!state) return <section>Reading the account…</section>;
  const underNotice = state.withdrawal?.amount ?? 0n;
  const common = { submit, onDone: refresh, notify };
  return (
    <>
      <section>
        <h2>Balance</h2>
        <div class="figures">
          <div><span>Free</span><b class="figure" data-testid="free">{tmt(state.free)}</b></div>
          <div><span>Of which frozen (stake, votes)</span><b class="figure">{tmt(state.frozen)}</b></div>
          <div><span>Held (credits, deposits)</span><b class="figure">{tmt(state.reserved)}</b></div>
        </div>
        <p class="muted mono">{account.address}</p>
      </section>
      <section>
        <h2>Inference credits</h2>
        <div class="figures">
          <div><span>Credits</span><b class="figure" data-testid="credits">{tmt(state.credits)}</b></div>
          <div><span>Available to spend</span><b class="figure" data-testid="credits-available">{tmt(state.credits - underNotice)}</b></div>
          <div><span>Under withdrawal notice</span><b class="figure" data-testid="credits-notice">{tmt(underNotice)}</b>
            {state.withdrawal && <span data-testid="notice-ends">{state.withdrawal.unlockAt <= head ? 'withdrawable now' : `withdrawable ${inBlocks(state.withdrawal.unlockAt - head)}`}</span>}</div>
        </div>
        <AmountAction label="Deposit" testid="deposit" make={(a) => api.tx.inferenceCredits.depositCredits(a)} {...common} />
        <AmountAction label="Request withdrawal" testid="request-withdrawal" kind="action" make={(a) => api.tx.inferenceCredits.requestWithdrawal(a)} {...common} />
        {state.withdrawal && <AmountAction label="Withdraw" testid="withdraw" kind="action" make={(a) => api.tx.inferenceCredits.withdrawCredits(a)} {...common} />}
      </section>
      <section>
        <h2>Priority stake</h2>
        <div class="figures">
          <div><span>Active stake</span><b class="figure" data-testid="stake-active">{tmt(state.active)}</b></div>
          <div><span>Warming up</span><b class="figure" data-testid="stake-warming">{tmt(state.warming)}</b>
            {state.warmingChunks.length > 0 && <span data-testid="warm-up-ends">counts {inBlocks(Math.max(...state.warmingChunks.map((c) => c.at)) - head)}</span>}</div>
          <div><span>Tier</span><b class="figure" data-testid="tier">{state.tier}</b><span>{state.rateLimit} requests a minute</span></div>
          <div><span>Free allowance left this epoch</span><b class="figure" data-testid="allowance-left">{tmt(state.allowanceLeft)}</b><span>renews {inBlocks(state.nextEpochAt - head)}</span></div>
          <div><span>Unbonding</span><b class="figure">{tmt(state.unbonding.reduce((s, c) => s + c.amount, 0n))}</b>
            {state.unbonding.length > 0 && <span>withdrawable {inBlocks(Math.max(...state.unbonding.map((c) => c.at)) - head)}</span>}</div>
        </div>
        <p class="muted">Staked TMT stays yours and frozen; it gives priority, rate limits and a free allowance per epoch once warmed up.</p>
        <AmountAction label="Stake" testid="stake" make={(a) => api.tx.priorityStaking.stake(a)} {...common} />
        <AmountAction label="Unstake" testid="unstake" kind="action" make={(a) => api.tx.priorityStaking.unstake(a)} {...common} />
        {state.unbonding.length > 0 && <button class="action" data-testid="withdraw-unbonded" onClick={async () => { await submit(api.tx.priorityStaking.withdrawUnbonded()); refresh(); }}>Withdraw unbonded</button>}
      </section>
      <Rewards api={api} account={account} head={head} submit={submit} />
    </>
  );
}
