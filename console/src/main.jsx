// The Tokenmeter console: one page against any node (and the providers' gateways it names).
// The node: `?node=ws://…`, else ws://<this page's host>:9944.

import { render } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';

import { connect, describe, humanise, send, tmt } from './chain.js';
import { devAccounts, walletAccounts } from './wallet.js';
import { Credits } from './credits.jsx';
import { Models } from './models.jsx';
import { Agents } from './agents.jsx';

const params = new URLSearchParams(location.search);
const NODE = params.get('node') ?? `ws://${location.hostname || '127.0.0.1'}:9944`;
const TABS = [['credits', 'Credits & stake'], ['models', 'Models & chat'], ['agents', 'Agents']];

/** Shows a transaction before it is signed: what, with which arguments, and its fee. */
function Confirm({ pending, onSign, onCancel }) {
  const { what, fee, feeError, status, signing, offChain } = pending;
  return (
    <div class="confirm" role="dialog" aria-label="Confirm transaction">
      <div>
        <h2>{offChain ? 'Sign this voucher?' : 'Sign this transaction?'}</h2>
        <p><b class="mono" data-testid="confirm-call">{what.call}</b></p>
        <ul>{what.args.map((a) => <li class="mono">{a}</li>)}</ul>
        <p class="muted">{what.docs.split('. ')[0]}.</p>
        <p>Fee: <b data-testid="confirm-fee">{offChain ? 'none (a signature, not a transaction)' : fee === null ? (feeError ?? 'estimating…') : tmt(fee, 6)}</b></p>
        {status && <p class="muted" data-testid="confirm-status">{status}</p>}
        <button class="primary" data-testid="confirm-sign" disabled={signing || (fee === null && !offChain)} onClick={onSign}>{offChain ? 'Sign' : 'Sign and send'}</button>
        <button class="action" data-testid="confirm-cancel" disabled={signing} onClick={onCancel}>Cancel</button>
      </div>
    </div>
  );
}

function App() {
  const [conn, setConn] = useState(null);
  const [failure, setFailure] = useState(null);
  const [accounts, setAccounts] = useState([]);
  const [address, setAddress] = useState(params.get('account') ?? '');
  const [tab, setTab] = useState(params.get('tab') ?? 'credits');
  const [head, setHead] = useState(0);
  const [pending, setPending] = useState(null);
  const [toast, setToast] = useState(null);
  const [walletNote, setWalletNote] = useState(null);
  // A success note goes away by itself; an error stays until clicked.
  useEffect(() => {
    if (!toast?.ok) return undefined;
    const timer = setTimeout(() => setToast((t) => (t === toast ? null : t)), 8_000);
    return () => clearTimeout(timer);
  }, [toast]);

  useEffect(() => {
    let api = null;
    let stop = null;
    connect(NODE).then(async (c) => {
      api = c.api;
      setConn(c);
      stop = await c.api.rpc.chain.subscribeNewHeads((h) => setHead(h.number.toNumber()));
      if (c.isDev) {
        const dev = await devAccounts();
        // A wallet may have connected meanwhile: its accounts stay first.
        setAccounts((known) => [...known.filter((k) => k.source !== 'dev'), ...dev]);
      }
    }, (e) => setFailure(`Cannot reach the node at ${NODE}: ${humanise(e)}. Start one (scripts/dev.sh) or open this page with ?node=ws://host:port.`));
    return () => { stop?.(); api?.disconnect(); };
  }, []);

  const connectWallet = useCallback(async () => {
    try {
      const found = await walletAccounts(conn.genesisHash);
      if (found.length === 0) {
        setWalletNote('No wallet gave this page an account: install Polkadot.js, Talisman or SubWallet, allow this site, and make an account available for this chain.');
        return;
      }
      setWalletNote(null);
      setAccounts((known) => [...found, ...known.filter((k) => k.source === 'dev')]);
      setAddress(found[0].address);
    } catch (e) {
      setWalletNote(`The wallet did not connect: ${humanise(e)}`);
    }
  }, [conn]);

  const account = accounts.find((a) => a.address === address) ?? null;

  /** Asks to confirm `tx`, signs and sends it; resolves with its outcome (null if cancelled). */
  const submit = useCallback((tx) => new Promise((resolve) => {
    const what = describe(conn.api, tx);
    const state = { what, fee: null, feeError: null, status: null, signing: false, tx, resolve };
    setPending(state);
    tx.paymentInfo(account.address).then(
      (info) => setPending((p) => p && p.tx === tx ? { ...p, fee: info.partialFee.toBigInt() } : p),
      (e) => setPending((p) => p && p.tx === tx ? { ...p, feeError: `cannot estimate: ${humanise(e)}` } : p),
    );
  }), [conn, account]);

  /** Asks to confirm an off-chain signature described by `what`; resolves true or false. */
  const confirmSignature = useCallback((what) => new Promise((resolve) => {
    setPending({ what, offChain: true, fee: null, status: null, signing: false, resolve });
  }), []);

  const sign = async () => {
    if (pending.offChain) {
      pending.resolve(true);
      setPending(null);
      return;
    }
    const { tx, resolve, what } = pending;
    setPending({ ...pending, signing: true, status: 'waiting for the signature' });
    try {
      const outcome = await send(conn.api, tx, account, (status) => setPending((p) => p && { ...p, status }));
      setPending(null);
      setToast(outcome.ok
        ? { ok: true, text: `${what.call} done (in block ${outcome.blockHash.slice(0, 10)}…)` }
        : { ok: false, text: `${what.call} failed: ${outcome.error.replace(/\.$/, "")}. Nothing changed but the fee.` });
      resolve(outcome);
    } catch (e) {
      setPending(null);
      setToast({ ok: false, text: `${what.call} was not sent: ${humanise(e)}` });
      resolve(null);
    }
  };
  const cancel = () => { pending.resolve(pending.offChain ? false : null); setPending(null); };

  if (failure) return <main><section><h2>No node</h2><p class="error" data-testid="node-error">{failure}</p></section></main>;
  if (!conn) return <p class="loading">Connecting to {NODE}…</p>;
  const props = { conn, api: conn.api, account, head, submit, confirmSignature, notify: setToast };
  return (
    <>
      <header>
        <h1>Tokenmeter</h1>
        <span class="muted" data-testid="chain">{conn.chain} · block #{head}</span>
        <nav>{TABS.map(([id, label]) => <button class={tab === id ? 'active' : ''} data-testid={`tab-${id}`} onClick={() => setTab(id)}>{label}</button>)}</nav>
        <span style="flex:1" />
        <select data-testid="account" value={address} onChange={(e) => setAddress(e.currentTarget.value)}>
          <option value="">— choose an account —</option>
          {accounts.map((a) => <option value={a.address}>{a.name} · {a.address.slice(0, 6)}…{a.address.slice(-4)}</option>)}
        </select>
        <button class="action" data-testid="connect-wallet" onClick={connectWallet}>Connect wallet</button>
      </header>
      <main>
        {walletNote && <section class="error" data-testid="wallet-note">{walletNote}</section>}
        {!account && <section><p data-testid="no-account">Connect a browser wallet {conn.isDev ? 'or choose a development key ' : ''}to start.</p></section>}
        {account && tab === 'credits' && <Credits {...props} />}
        {account && tab === 'models' && <Models {...props} />}
        {account && tab === 'agents' && <Agents {...props} />}
      </main>
      {pending && <Confirm pending={pending} onSign={sign} onCancel={cancel} />}
      {toast && <div class={`toast ${toast.ok ? 'ok' : 'error'}`} data-testid="toast" onClick={() => setToast(null)}>{toast.text}</div>}
    </>
  );
}

render(<App />, document.getElementById('app'));
