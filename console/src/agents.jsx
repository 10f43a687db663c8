// Agent wallets: create one (its address shown before), set its policy, see what it spent
// this period, approve or reject payments waiting for cosigners, and the kill switch: freeze.

import { useEffect, useState } from 'preact/hooks';
import { blake2AsHex, decodeAddress } from '@polkadot/util-crypto';

import { parseTmt, tmt } from './chain.js';
import { inBlocks } from './credits.jsx';

/** A policy form's fields, as text. */
const EMPTY = { perPaymentCap: '5', periodCap: '50', periodLength: '600', cosignThreshold: '2', cosigners: '', approvalsNeeded: '1', payees: '', expiry: '', paysFees: false };

/** The fields of a stored policy, as text for the form. */
function fieldsOf(policy) {
  const amount = (v) => (Number(v.toBigInt() / 10n ** 8n) / 1e4).toString();
  return {
    perPaymentCap: amount(policy.perPaymentCap),
    periodCap: amount(policy.periodCap),
    periodLength: policy.periodLength.toString(),
    cosignThreshold: amount(policy.cosignThreshold),
    cosigners: policy.cosigners.map((c) => c.toString()).join(', '),
    approvalsNeeded: policy.approvalsNeeded.toString(),
    payees: policy.payees.isSome ? policy.payees.unwrap().map((p) => p.toString()).join(', ') : '',
    expiry: policy.expiry.isSome ? policy.expiry.unwrap().toString() : '',
    paysFees: policy.paysFees.isTrue,
  };
}

const addresses = (text, what) => text.split(/[\s,]+/).filter(Boolean).map((a) => {
  try { decodeAddress(a); } catch { throw new Error(`${what}: “${a}” is not an address`); }
  return a;
});

/** The policy the form describes; throws with what is wrong. */
function policyOf(f) {
  const whole = (text, what) => {
    if (!/^\d+$/.test(String(text).trim())) throw new Error(`${what} must be a whole number of blocks`);
    return Number(text);
  };
  const payees = addresses(f.payees, 'Payees');
  return {
    perPaymentCap: parseTmt(f.perPaymentCap),
    periodCap: parseTmt(f.periodCap),
    periodLength: whole(f.periodLength, 'The period'),
    payees: payees.length ? payees : null,
    cosignThreshold: parseTmt(f.cosignThreshold),
    cosigners: addresses(f.cosigners, 'Cosigners'),
    approvalsNeeded: whole(f.approvalsNeeded, 'Approvals needed'),
    expiry: f.expiry.trim() ? whole(f.expiry, 'The expiry') : null,
    paysFees: f.paysFees,
  };
}

function PolicyForm({ fields, setFields }) {
  const field = (name, label, hint) => (
    <label>{label}<input data-testid={`policy-${name}`} value={fields[name]} placeholder={hint} onInput={(e) => setFields({ ...fields, [name]: e.currentTarget.value })} /></label>
  );
  return (
    <div class="row">
      {field('perPaymentCap', 'Per payment cap (TMT)')}
      {field('periodCap', 'Per period cap (TMT)')}
      {field('periodLength', 'Period (blocks, 600 ≈ 1 h)')}
      {field('cosignThreshold', 'Cosign above (TMT)')}
      {field('cosigners', 'Cosigners (addresses; empty: you)', 'none: the owner approves')}
      {field('approvalsNeeded', 'Approvals needed')}
      {field('payees', 'Payees allowed (empty: anyone)', 'anyone')}
      {field('expiry', 'Last block (empty: none)', 'never')}
      <label>Agent pays its fees<input type="checkbox" checked={fields.paysFees} onChange={(e) => setFields({ ...fields, paysFees: e.currentTarget.checked })} /></label>
    </div>
  );
}

/** One agent: its state and, for its owner and cosigners, the actions. */
function Agent({ api, account, head, agent, submit, notify, refresh }) {
  const [editing, setEditing] = useState(null);
  const [controller, setController] = useState('');
  const { address, info, balance, pending } = agent;
  const policy = info.policy;
  const owner = info.owner.toString() === account.address;
  const periodEnds = info.periodStart.toNumber() + policy.periodLength.toNumber();
  const spent = head >= periodEnds ? 0n : info.spent.toBigInt();
  const remaining = policy.periodCap.toBigInt() > spent ? policy.periodCap.toBigInt() - spent : 0n;
  const cosigners = policy.cosigners.map((c) => c.toString());
  const mayApprove = cosigners.length ? cosigners.includes(account.address) : owner;
  const run = async (tx) => { await submit(tx); refresh(); };
  const savePolicy = async () => {
    try {
      await run(api.tx.agentWallet.setPolicy(address, policyOf(editing)));
      setEditing(null);
    } catch (e) {
      notify({ ok: false, text: `Policy: ${e.message}` });
    }
  };
  return (
    <section data-testid={`agent-${address}`}>
      <h2>Agent <span class="mono">{address}</span> {info.frozen.isTrue && <span class="frozen" data-testid="agent-frozen">FROZEN</span>}</h2>
      <div class="figures">
        <div><span>Balance</span><b class="figure" data-testid="agent-balance">{tmt(balance)}</b></div>
        <div><span>Spent this period</span><b class="figure" data-testid="agent-spent">{tmt(spent)}</b></div>
        <div><span>Left this period</span><b class="figure" data-testid="agent-remaining">{tmt(remaining)}</b><span>period ends {inBlocks(periodEnds - head)}</span></div>
      </div>
      <p class="muted">Controller <span class="mono">{info.controller.toString()}</span> · per payment ≤ {tmt(policy.perPaymentCap)} · cosign above {tmt(policy.cosignThreshold)} by {cosigners.length ? `${policy.approvalsNeeded} of ${cosigners.length} cosigners` : 'the owner'} · payees {policy.payees.isSome ? policy.payees.unwrap().length : 'anyone'} · {policy.expiry.isSome ? `spends until block ${policy.expiry.unwrap()}` : 'no expiry'}</p>
      {pending.length > 0 && <>
        <h3>Payments waiting for cosigners</h3>
        <table data-testid="pending-payments"><tbody>{pending.map(({ id, payment }) => (
          <tr data-testid={`pending-${id}`}>
            <td>#{id}: {tmt(payment.amount)} to <span class="mono">{payment.payee.toString()}</span><br />
              <span class="muted">approved by {payment.approvals.length} · may be approved {inBlocks(payment.expires.toNumber() - head + 1)} more</span></td>
            <td>{mayApprove && <>
              <button class="primary" data-testid={`approve-${id}`} onClick={() => run(api.tx.agentWallet.approve(address, id))}>Approve</button>
              <button class="action" data-testid={`reject-${id}`} onClick={() => run(api.tx.agentWallet.reject(address, id))}>Reject</button>
            </>}</td>
          </tr>
        ))}</tbody></table>
      </>}
      {owner && <div class="row" style="margin-top:.6rem">
        {info.frozen.isTrue
          ? <button class="primary" data-testid="agent-unfreeze" onClick={() => run(api.tx.agentWallet.unfreeze(address))}>Unfreeze</button>
          : <button class="primary danger" data-testid="agent-freeze" onClick={() => run(api.tx.agentWallet.freeze(address))}>Freeze (stop all spending)</button>}
        <button class="action" data-testid="agent-edit" onClick={() => setEditing(editing ? null : fieldsOf(policy))}>{editing ? 'Close policy' : 'Change policy'}</button>
        <label>New controller<input data-testid="agent-new-controller" value={controller} onInput={(e) => setController(e.currentTarget.value)} /></label>
        <button class="action" data-testid="agent-rotate" onClick={() => {
          try { addresses(controller, 'The controller'); } catch (e) { notify({ ok: false, text: e.message }); return; }
          run(api.tx.agentWallet.rotateController(address, controller.trim()));
        }}>Rotate controller</button>
      </div>}
      {editing && <><PolicyForm fields={editing} setFields={setEditing} /><button class="primary" data-testid="agent-save-policy" onClick={savePolicy}>Save policy</button></>}
    </section>
  );
}

export function Agents({ api, account, head, submit, notify }) {
  const [agents, setAgents] = useState(null);
  const [fields, setFields] = useState(EMPTY);
  const [config, setConfig] = useState('my agent');
  const [controller, setController] = useState('');
  const [preview, setPreview] = useState(null);
  const [tick, setTick] = useState(0);
  const refresh = () => setTick((t) => t + 1);
  const configHash = blake2AsHex(config);
  useEffect(() => {
    let live = true;
    (async () => {
      const all = await api.query.agentWallet.agents.entries();
      const mine = [];
      for (const [key, value] of all) {
        const info = value.unwrap();
        const cosigners = info.policy.cosigners.map((c) => c.toString());
        if (info.owner.toString() !== account.address && !cosigners.includes(account.address)) continue;
        const address = key.args[0].toString();
        const [acct, payments] = await Promise.all([
          api.query.system.account(address),
          api.query.agentWallet.pendingPayments.entries(address),
        ]);
        mine.push({
          address, info, balance: acct.data.free.toBigInt(),
          pending: payments.map(([k, p]) => ({ id: k.args[1].toNumber(), payment: p.unwrap() })).sort((a, b) => a.id - b.id),
        });
      }
      if (live) setAgents(mine);
    })().catch((e) => notify({ ok: false, text: `Cannot read the agents: ${e.message}` }));
    return () => { live = false; };
  }, [account.address, tick, Math.floor(head / 2)]);
  useEffect(() => {
    let live = true;
    api.rpc.agentWallet.address(account.address, configHash).then((a) => live && setPreview(a.toString()), () => live && setPreview(null));
    return () => { live = false; };
  }, [account.address, configHash, tick]);

  const create = async () => {
    let policy;
    try {
      policy = policyOf(fields);
      addresses(controller, 'The controller');
      if (!controller.trim()) throw new Error('enter the controller: the key the running agent holds');
    } catch (e) {
      notify({ ok: false, text: `New agent: ${e.message}` });
      return;
    }
    await submit(api.tx.agentWallet.createAgent(configHash, policy, controller.trim()));
    refresh();
  };
  return (
    <>
      {agents === null ? <section>Reading the agents…</section>
        : agents.length === 0 ? <section><p class="muted" data-testid="no-agents">No agent of yours (or that you cosign for) yet.</p></section>
          : agents.map((agent) => <Agent api={api} account={account} head={head} agent={agent} submit={submit} notify={notify} refresh={refresh} />)}
      <section>
        <h2>New agent</h2>
        <div class="row">
          <label>Its configuration (model, prompt…; hashed into the address)<input data-testid="agent-config" value={config} onInput={(e) => setConfig(e.currentTarget.value)} /></label>
          <label>Controller (the key the agent runs with)<input data-testid="agent-controller" value={controller} onInput={(e) => setController(e.currentTarget.value)} /></label>
        </div>
        <PolicyForm fields={fields} setFields={setFields} />
        <p>It will be created at <b class="mono" data-testid="agent-preview">{preview ?? '…'}</b>; fund that address to give it money.</p>
        <button class="primary" data-testid="agent-create" onClick={create}>Create agent</button>
      </section>
    </>
  );
}
