// The chain side of the console: connecting, amounts in TMT, and transactions that show their
// fee before they are signed and their outcome (or their error, in words) after.

import { ApiPromise, WsProvider } from '@polkadot/api';

export const DECIMALS = 12;
export const UNIT = 10n ** 12n;

/** The node's custom RPC the console uses (the rest comes from the runtime's metadata). */
const rpc = {
  agentWallet: {
    address: {
      description: 'The keyless address of the agent `owner` creates with `configHash` (and `index`)',
      params: [
        { name: 'owner', type: 'AccountId' },
        { name: 'configHash', type: 'Hash' },
        { name: 'index', type: 'Option<u32>', isOptional: true },
      ],
      type: 'AccountId',
    },
  },
  priority: {
    of: {
      description: "An account's tier, stake (counting, warming up, unbonding) and free allowance left",
      params: [{ name: 'who', type: 'AccountId' }, { name: 'at', type: 'Hash', isOptional: true }],
      type: 'Json',
    },
  },
  feedback: {
    pendingRewards: {
      description: "An account's unclaimed feedback epochs: reward (once closed) and bonds",
      params: [{ name: 'who', type: 'AccountId' }, { name: 'at', type: 'Hash', isOptional: true }],
      type: 'Json',
    },
  },
};

/** Connects to the node at `url` (ws:// or wss://). */
export async function connect(url) {
  const provider = new WsProvider(url, 2_500);
  const api = await ApiPromise.create({ provider, rpc, noInitWarn: true, throwOnConnect: true });
  const [chain, type, genesis] = await Promise.all([
    api.rpc.system.chain(), api.rpc.system.chainType(), api.rpc.chain.getBlockHash(0),
  ]);
  return { api, chain: chain.toString(), isDev: type.isDevelopment || type.isLocal, genesisHash: genesis.toHex() };
}

/** `value` (smallest units) as TMT with up to `digits` decimals, e.g. `12.5 TMT`. */
export function tmt(value, digits = 4) {
  const v = BigInt(value?.toString() ?? 0);
  const negative = v < 0n;
  const abs = negative ? -v : v;
  const whole = abs / UNIT;
  const fraction = (abs % UNIT).toString().padStart(DECIMALS, '0').slice(0, digits).replace(/0+$/, '');
  const tiny = whole === 0n && !fraction && abs > 0n;
  return `${negative ? '−' : ''}${tiny ? '<0.' + '0'.repeat(digits - 1) + '1' : whole.toLocaleString('en')}${fraction && !tiny ? '.' + fraction : ''} TMT`;
}

/** A decimal TMT amount typed by a person, in smallest units; throws with a message. */
export function parseTmt(text) {
  const s = String(text ?? '').trim().replace(/,/g, '');
  if (!/^\d+(\.\d{0,12})?$/.test(s)) throw new Error(`“${text}” is not an amount of TMT (up to 12 decimals)`);
  const [whole, fraction = ''] = s.split('.');
  return BigInt(whole) * UNIT + BigInt(fraction.padEnd(DECIMALS, '0'));
}

/** A dispatch error in words: `Pallet.Error: what its documentation says`. */
export function explain(api, dispatchError) {
  if (dispatchError.isModule) {
    const { section, name, docs } = api.registry.findMetaError(dispatchError.asModule);
    return `${section}.${name}: ${docs.join(' ').trim() || 'no description'}`;
  }
  if (dispatchError.isToken) return `Token error: ${dispatchError.asToken.type}`;
  if (dispatchError.isArithmetic) return `Arithmetic error: ${dispatchError.asArithmetic.type}`;
  if (dispatchError.isBadOrigin) return 'Not allowed: this account may not make this call';
  return dispatchError.toString();
}

/** What a call is, for a person: `inferenceCredits.depositCredits(amount: 10 TMT)`. */
export function describe(api, tx) {
  const { section, method, args } = tx.method;
  const meta = tx.meta;
  const parts = meta.args.map((arg, i) => {
    const value = args[i];
    const type = arg.type.toString();
    const shown = /Balance|u128/.test(type) && !/Option|Vec/.test(type) ? tmt(value.toString()) : value.toHuman?.() ?? value.toString();
    return `${arg.name.toString()}: ${typeof shown === 'object' ? JSON.stringify(shown) : shown}`;
  });
  return { call: `${section}.${method}`, args: parts, docs: meta.docs.map((d) => d.toString()).join(' ').trim() };
}

/**
 * Signs and sends `tx` from `account` (`{ address, pair }` of a dev key, or `{ address,
 * signer }` of a wallet) and resolves once it is in a block: `{ ok, error, events, blockHash }`.
 * Rejects if the wallet refuses or the node does not take the transaction.
 */
export function send(api, tx, account, onStatus = () => {}) {
  return new Promise((resolve, reject) => {
    let unsubscribe = null;
    const options = account.pair ? {} : { signer: account.signer };
    const signer = account.pair ?? account.address;
    tx.signAndSend(signer, options, (result) => {
      const { status, dispatchError, events } = result;
      if (status.isReady || status.isBroadcast) onStatus('sent, waiting for a block');
      if (status.isInBlock || status.isFinalized) {
        unsubscribe?.();
        resolve({
          ok: !dispatchError,
          error: dispatchError ? explain(api, dispatchError) : null,
          events: events.map(({ event }) => `${event.section}.${event.method}`),
          blockHash: status.isInBlock ? status.asInBlock.toHex() : status.asFinalized.toHex(),
        });
      } else if (status.isDropped || status.isInvalid || status.isUsurped) {
        unsubscribe?.();
        reject(new Error(`the transaction was ${status.type.toLowerCase()}`));
      }
    }).then((u) => { unsubscribe = u; }, (e) => reject(new Error(humanise(e))));
  });
}

/** A node's or wallet's error message, shortened for a person. */
export function humanise(error) {
  const message = String(error?.message ?? error);
  if (/Inability to pay some fees/.test(message)) return 'this account cannot pay the transaction fee (its free balance is too low)';
  if (/Cancelled|Rejected by user/i.test(message)) return 'you declined to sign';
  return message.replace(/^\d+: /, '');
}
